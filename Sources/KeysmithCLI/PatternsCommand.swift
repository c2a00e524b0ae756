import ArgumentParser

/// `keysmith patterns`: a detection rule for this install's keys, for secret scanners (docs/leaks.md).
///
/// The rules match the whole bearer token `<key_id>:<secret>`, the form Keysmith hands out and clients
/// send: its CRC-32 covers the key id, so only the whole token can be checked, and the key id alone is
/// public. The shape is APIKeyToken's: 14 lowercase letters, `:`, the prefix, 32 + 6 base62 characters.
struct PatternsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patterns",
        abstract: "Print a secret-scanner rule that finds this install's keys.",
        discussion: "Formats: regex, detect-secrets (a plugin file that checks the CRC-32), trufflehog3 (a rules file), gitleaks (a TOML rule), github (a custom pattern for GitHub Advanced Security)."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case regex
        case detectSecrets = "detect-secrets"
        case trufflehog3
        case gitleaks
        case github
    }

    @Option(help: "regex, detect-secrets, trufflehog3, gitleaks or github.")
    var format: Format = .regex

    @OptionGroup var secretPrefix: SecretPrefixOption

    func run() {
        let patterns = KeyPatterns(prefix: secretPrefix.secretPrefix)
        switch format {
        case .regex: print(patterns.regexRule, terminator: "")
        case .detectSecrets: print(patterns.detectSecretsPlugin, terminator: "")
        case .trufflehog3: print(patterns.trufflehog3Rules, terminator: "")
        case .gitleaks: print(patterns.gitleaksRule, terminator: "")
        case .github: print(patterns.githubPattern, terminator: "")
        }
    }
}

/// The texts `keysmith patterns` prints. The prefix is validated (lowercase letters, digits, `_`), so it
/// needs no escaping in a regular expression, TOML, YAML or Python string.
struct KeyPatterns {
    let prefix: String

    /// The token without boundaries: GitHub wants boundaries apart, as before/after expressions.
    var token: String { #"[a-z]{14}:\#(prefix)[0-9A-Za-z]{38}"# }
    /// `\b` on both sides: the key id is preceded, and the checksum followed, by a non-word character.
    var bounded: String { #"\b\#(token)\b"# }

    var checksumRule: String {
        """
        # The last 6 characters are the CRC-32 (IEEE 802.3, zlib's crc32) of everything before them, key id and
        # colon included, in base62 (0-9A-Za-z), most significant digit first, zero-padded. A match whose
        # checksum does not hold is not a Keysmith key.
        """
    }

    var regexRule: String {
        """
        # Keysmith API key (secret prefix \(prefix)): the whole bearer token <key_id>:<secret>.
        # key_id: 14 lowercase letters (public, not a secret on its own); secret: \(prefix), 32 random base62
        # characters, 6 base62 characters of checksum.
        \(checksumRule)
        # A bare secret (no key id) has the shape \(prefix)[0-9A-Za-z]{38} but its checksum cannot be checked.
        \(bounded)

        """
    }

    var detectSecretsPlugin: String {
        #"""
        """Keysmith API keys (secret prefix \#(prefix)) for Yelp's detect-secrets.

        Printed by `keysmith patterns --format detect-secrets --secret-prefix \#(prefix)`.
        Use: detect-secrets scan --plugin keysmith_\#(prefix)detector.py

        A token is <key_id>:<secret>: 14 lowercase letters, ':', '\#(prefix)', 32 random base62 characters, then
        6 base62 characters (0-9A-Za-z, most significant first) of the CRC-32 (zlib's) of everything before
        them. Only tokens whose checksum holds are reported, so random look-alikes are not.
        """
        import re
        import zlib

        from detect_secrets.plugins.base import RegexBasedDetector

        BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        CHECKSUM_LENGTH = 6


        def keysmith_checksum_holds(token: str) -> bool:
            """The check Keysmith makes before any lookup (APIKeyToken.parse)."""
            body, presented = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
            value = 0
            for char in presented:
                digit = BASE62.find(char)
                if digit < 0:
                    return False
                value = value * 62 + digit
            return value == zlib.crc32(body.encode("utf-8"))


        class KeysmithDetector_\#(prefix)(RegexBasedDetector):
            """Scans for Keysmith API keys whose secret starts with '\#(prefix)'."""

            secret_type = "Keysmith API Key (\#(prefix))"

            denylist = [re.compile(r"\#(bounded)")]

            def analyze_string(self, string):
                for match in super().analyze_string(string):
                    if keysmith_checksum_holds(match):
                        yield match

        """#
    }

    var trufflehog3Rules: String {
        """
        # trufflehog3 rules for Keysmith API keys (secret prefix \(prefix)), printed by
        # `keysmith patterns --format trufflehog3`. Use: trufflehog3 --rules THIS_FILE (it replaces the built-in
        # rules; append these lines to a copy of trufflehog3's own rules.yml to keep both).
        \(checksumRule)
        - id: keysmith.api-key.\(prefix.dropLast())
          message: Keysmith API key (\(prefix))
          pattern: '\(bounded)'
          severity: HIGH

        """
    }

    var gitleaksRule: String {
        """
        # gitleaks rule for Keysmith API keys (secret prefix \(prefix)), printed by `keysmith patterns --format gitleaks`.
        # Use as .gitleaks.toml (or: gitleaks detect --config THIS_FILE); [extend] keeps gitleaks' default rules.
        \(checksumRule)
        # gitleaks cannot check it: a look-alike of the right shape is reported too.
        [extend]
        useDefault = true

        [[rules]]
        id = "keysmith-api-key-\(prefix.dropLast())"
        description = "Keysmith API key (\(prefix))"
        regex = '''\(bounded)'''
        keywords = ["\(prefix)"]
        tags = ["key", "keysmith"]

        """
    }

    var githubPattern: String {
        """
        # GitHub Advanced Security custom pattern for Keysmith API keys (secret prefix \(prefix)).
        # Settings > Code security > Secret scanning > Custom patterns > New pattern (repository, organization or
        # enterprise); the before/after expressions are under "More options". Enter each value below as is.
        # GitHub cannot check the CRC-32: it may report a look-alike of the right shape.
        \(checksumRule)
        Pattern name:   Keysmith API key (\(prefix))
        Secret format:  \(token)
        Before secret:  \\A|[^0-9A-Za-z_]
        After secret:   \\z|[^0-9A-Za-z_]

        """
    }
}
