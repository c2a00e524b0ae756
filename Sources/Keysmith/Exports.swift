// The domain types are part of this module's API (the CLI and tests use them through `import Keysmith`),
// as Hummingbird exports the HummingbirdCore types it builds on.
@_exported import KeysmithCore
