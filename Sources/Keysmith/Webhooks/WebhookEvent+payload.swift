/// Event bodies, rendered once when the event is written, with the API's own key object.
extension WebhookEvent {
    /// `{"id", "type", "created_at", "workspace_id", "data"}` around a key object (never a secret).
    static func about(_ key: APIKey, type: WebhookEventType, at now: Timestamp = .now()) -> WebhookEvent {
        make(type: type, workspaceID: key.workspaceID, keyID: key.id, at: now) { APIKeyResource(key, now: now).write(to: &$0) }
    }

    static func test(webhookID: String, workspaceID: String, at now: Timestamp = .now()) -> WebhookEvent {
        make(type: .test, workspaceID: workspaceID, keyID: nil, at: now) { json in
            json.object { json in
                json.field("webhook_id", webhookID)
                json.field("message", "This is a test event sent from Keysmith.")
            }
        }
    }

    private static func make(type: WebhookEventType, workspaceID: String, keyID: String?, at now: Timestamp, data: (inout JSONWriter) -> Void) -> WebhookEvent {
        let id = "evt_" + RandomID.make(length: 24)
        var json = JSONWriter()
        json.object { json in
            json.field("id", id)
            json.field("type", type.rawValue)
            json.field("created_at", now)
            json.field("workspace_id", workspaceID)
            json.key("data")
            data(&json)
        }
        return WebhookEvent(id: id, workspaceID: workspaceID, type: type, keyID: keyID, createdAt: now, payload: json.text)
    }
}
