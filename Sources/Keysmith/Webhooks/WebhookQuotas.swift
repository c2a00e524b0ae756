/// Per-workspace limits, so one tenant cannot crowd out the others' webhooks.
public struct WebhookQuotas: Sendable {
    public var endpointsPerWorkspace = 20
    public var testEventsPerWindow = 10
    public var testEventWindow: Duration = .seconds(60)
    /// How long a replaced secret keeps signing after a rotation.
    public var previousSecretGrace: Duration = .seconds(24 * 3600)

    public init() {}
}
