import KeysmithWebhooks

/// Fixed inputs and expected outputs computed independently with Python's
/// `hmac`, `hashlib` and `base64` (not with this library). Each expected value
/// carries the one-liner that produced it.
enum TestVectors {
    static let plainSecret = "my-webhook-secret"
    static let whsecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let eventID = "evt_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    static let timestamp: Int64 = 1_674_087_231
    static let jsonBody = Array(#"{"type":"key.created","data":{"id":"key_123","name":"ci"}}"#.utf8)

    // python3 -c 'import hmac,hashlib; print(hmac.new("my-webhook-secret".encode(), b"{\"type\":\"key.created\",\"data\":{\"id\":\"key_123\",\"name\":\"ci\"}}", hashlib.sha256).hexdigest())'
    static let dialNexaPlain = "f7118b554290bf516141d69f478d5eef81946871dcf32ad12d08962d46de0e0b"

    // X-DialNexa-Signature keys with the whole secret string, whsec_ prefix included:
    // python3 -c 'import hmac,hashlib; print(hmac.new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".encode(), b"{\"type\":\"key.created\",\"data\":{\"id\":\"key_123\",\"name\":\"ci\"}}", hashlib.sha256).hexdigest())'
    static let dialNexaWhsec = "ed51e771d5a29bd54d5ab1c03bf3127d1cfe8231014c122a56b8fd648c0b90be"

    static let unicodeSecret = "sëcret-🔑"
    static let unicodeBody = Array(#"{"note":"héllo"}"#.utf8)
    // python3 -c 'import hmac,hashlib; print(hmac.new("sëcret-🔑".encode(), "{\"note\":\"héllo\"}".encode(), hashlib.sha256).hexdigest())'
    static let dialNexaUnicode = "5338a8e2a8296c19a46edcf389c3a7948d7c3969607810ceb2dcc8c20dc85f03"

    // Key = base64-decoded part after "whsec_":
    // python3 -c 'import hmac,hashlib,base64; print("v1,"+base64.b64encode(hmac.new(base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), b"evt_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231."+b"{\"type\":\"key.created\",\"data\":{\"id\":\"key_123\",\"name\":\"ci\"}}", hashlib.sha256).digest()).decode())'
    static let standardWhsec = "v1,kWtzXXnh2K3pFw0lSe+cF0fc1Ax5yu65kOPXedS9jbw="

    // Key = raw UTF-8 bytes of a non-whsec secret:
    // python3 -c 'import hmac,hashlib,base64; print("v1,"+base64.b64encode(hmac.new("my-webhook-secret".encode(), b"evt_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231."+b"{\"type\":\"key.created\",\"data\":{\"id\":\"key_123\",\"name\":\"ci\"}}", hashlib.sha256).digest()).decode())'
    static let standardPlain = "v1,p7D+3tf9/fN00Q9MmJbUHmymqxIXUfVIFLfQ0i0avgU="

    // The example published with the Standard Webhooks spec / Svix docs:
    // python3 -c 'import hmac,hashlib,base64; print("v1,"+base64.b64encode(hmac.new(base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}", hashlib.sha256).digest()).decode())'
    static let specExampleID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let specExampleTimestamp: Int64 = 1_614_265_330
    static let specExampleBody = Array(#"{"test": 2432232314}"#.utf8)
    static let specExampleSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
}
