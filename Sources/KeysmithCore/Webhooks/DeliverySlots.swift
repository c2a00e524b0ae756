/// One instance's webhook send slots and which workspaces hold them, so that a claim shares them out.
///
/// While `active` workspaces have deliveries due or sends in flight, a workspace may take slots only up to
/// `share(active:)`: an equal part with one part kept back, so that a workspace whose deliveries fall due
/// next finds a free slot instead of waiting for another tenant's stalled sends to time out.
public struct DeliverySlots: Sendable, Equatable {
    /// The instance's send slots in all.
    public var total: Int
    /// The slots this instance's sends hold now, by workspace.
    public var heldByWorkspace: [String: Int]

    public init(total: Int, heldByWorkspace: [String: Int] = [:]) {
        self.total = total
        self.heldByWorkspace = heldByWorkspace
    }

    /// The most one workspace may hold while `active` workspaces want slots: at least one.
    public func share(active: Int) -> Int { max(1, total / (active + 1)) }
}
