import AsyncHTTPClient
import Foundation
import KeysmithWebhooks
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends the outbox: claims due deliveries, signs and posts them, and records every attempt.
///
/// Failures are retried on the Standard Webhooks schedule, then marked failed; a `410 Gone` disables the
/// endpoint. At most `perEndpointLimit` deliveries per endpoint are in flight, so one slow or dead
/// receiver never holds up the others, and workspaces take turns at the `totalLimit` send slots, none
/// past its share (`DeliverySlots`), so one tenant's stalled receivers never hold up another tenant.
/// A finished send claims the next at once: a backlog drains at the receivers' pace, not the poll's.
/// Claims are leases, so with several instances each delivery is sent by one of them, and a delivery
/// whose instance died is picked up again when its lease ends.
public final class WebhookDeliverer: Service, Sendable {
    /// Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    public static let standardSchedule: [Duration] = [
        .zero, .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18000),
        .seconds(36000), .seconds(50400), .seconds(72000), .seconds(86400),
    ]
    static let goneReason = "the receiver answered 410 Gone"

    let store: any KeyStore
    let secrets: SecretBox
    let policy: WebhookTargetPolicy
    let schedule: [Duration]
    let pollInterval: Duration
    let perEndpointLimit = 4
    let totalLimit = 32
    let timeout: Duration
    let clients: PinnedHTTPClients
    /// How long a claim lasts: the send deadline and some. A delivery whose instance died is sent again after it.
    var leaseMilliseconds: Int64 { max(30_000, 2 * timeout.milliseconds) }
    let migrated: MigrationGate
    let logger: Logger
    /// The application's clock: what is due, attempt times (and so signature timestamps), retry times.
    /// Durations and deadlines of a send are real time, on `ContinuousClock`.
    let clock: @Sendable () -> Timestamp
    let metrics: WebhookMetrics
    private let inFlight = Mutex(SendsInFlight())
    private let wakeUp: AsyncStream<Void>.Continuation
    private let wakeUps: AsyncStream<Void>

    public init(store: any KeyStore, secrets: SecretBox, policy: WebhookTargetPolicy, schedule: [Duration] = standardSchedule,
                pollInterval: Duration = .seconds(1), timeout: Duration = .seconds(15), migrated: MigrationGate, logger: Logger,
                clock: @escaping @Sendable () -> Timestamp = { .now() }, metrics: KeysmithMetrics = .disabled) {
        self.migrated = migrated
        self.metrics = metrics.webhooks
        self.clock = clock
        self.store = store
        self.secrets = secrets
        self.policy = policy
        self.schedule = schedule.isEmpty ? Self.standardSchedule : schedule
        self.pollInterval = pollInterval
        self.timeout = timeout
        self.logger = logger
        clients = PinnedHTTPClients(connectionsPerHost: totalLimit)
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// This process's sends now, by endpoint and by workspace.
    struct SendsInFlight {
        var byEndpoint: [String: Int] = [:]
        var byWorkspace: [String: Int] = [:]
        var total: Int { byEndpoint.values.reduce(0, +) }
    }

    /// Deliveries this process is sending now.
    var sendsInFlight: Int { inFlight.withLock { $0.total } }

    /// Asks for a poll now, after this process queued an event.
    public func poke() { wakeUp.yield() }

    public func run() async throws {
        guard (try? await cancelWhenGracefulShutdown { try await self.migrated.wait() }) != nil else { return }
        await withDiscardingTaskGroup { clock in
            clock.addTask {  // a poll every interval, besides the pokes
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.pollInterval)
                    self.wakeUp.yield()
                }
            }
            // Sends in flight at shutdown are finished, not cut off; each ends by its deadline, so the group does too.
            await withDiscardingTaskGroup { sends in
                for await _ in wakeUps.cancelOnGracefulShutdown() {
                    await claimAndStart(into: &sends)
                }
            }
            clock.cancelAll()
        }
        await clients.shutdown()
    }

    /// Claims what is due, within the limits, and starts sending each in `sends`.
    private func claimAndStart(into sends: inout DiscardingTaskGroup) async {
        let (busy, held) = inFlight.withLock { ($0.total, $0.byWorkspace) }
        guard busy < totalLimit else { return }
        let claimed: [ClaimedDelivery]
        do {
            // The store skips endpoints already at `perEndpointLimit`, so one endpoint's backlog never fills the claim,
            // and shares the slots out by workspace, so one tenant's backlog never does either.
            claimed = try await store.claimDeliveries(now: clock(), limit: totalLimit - busy, perEndpoint: perEndpointLimit,
                                                      slots: DeliverySlots(total: totalLimit, heldByWorkspace: held),
                                                      leaseMilliseconds: leaseMilliseconds)
        } catch {
            logger.error("cannot claim webhook deliveries", metadata: ["error": "\(String(reflecting: error))"])
            return
        }
        var released: [String] = []
        for delivery in claimed {
            let admitted = inFlight.withLock { sending in
                guard sending.byEndpoint[delivery.webhookID, default: 0] < perEndpointLimit else { return false }
                sending.byEndpoint[delivery.webhookID, default: 0] += 1
                sending.byWorkspace[delivery.workspaceID, default: 0] += 1
                return true
            }
            guard admitted else {
                released.append(delivery.id)
                continue
            }
            sends.addTask {
                await self.send(delivery)
                self.inFlight.withLock { sending in
                    sending.byEndpoint[delivery.webhookID, default: 1] -= 1
                    if sending.byEndpoint[delivery.webhookID] == 0 { sending.byEndpoint[delivery.webhookID] = nil }
                    sending.byWorkspace[delivery.workspaceID, default: 1] -= 1
                    if sending.byWorkspace[delivery.workspaceID] == 0 { sending.byWorkspace[delivery.workspaceID] = nil }
                }
                // The freed slot is claimed again now, not at the next poll or poke.
                self.wakeUp.yield()
            }
        }
        try? await store.releaseDeliveries(ids: released)
    }

    /// One attempt: sign, post, record. One deadline covers resolution, connect, request, response head and body.
    func send(_ delivery: ClaimedDelivery) async {
        let attemptNumber = delivery.attempts + 1
        let started = ContinuousClock.now
        let attemptedAt = clock()
        var statusCode: Int?
        var failure: String?
        do {
            statusCode = try await Self.withDeadline(timeout) { try await self.post(delivery, at: attemptedAt, deadline: started + self.timeout) }
        } catch let error as APIError {
            failure = "refused target: \(error.message)"
        } catch {
            failure = Self.describe(error)
        }
        let duration = ContinuousClock.now - started
        let outcome: DeliveryOutcome
        if let statusCode, (200..<300).contains(statusCode) {
            outcome = .succeeded
        } else if statusCode == 410 {
            outcome = .gone
        } else if attemptNumber < schedule.count {
            outcome = .retry(at: clock().adding(milliseconds: schedule[attemptNumber].milliseconds))
        } else {
            outcome = .failed
        }
        metrics.record(outcome, after: duration)
        if failure == nil, let statusCode, !(200..<300).contains(statusCode) { failure = "HTTP \(statusCode)" }
        var nextRetryAt: Timestamp?
        if case .retry(let at) = outcome { nextRetryAt = at }
        let attempt = DeliveryAttempt(
            deliveryID: delivery.id, webhookID: delivery.webhookID, eventID: delivery.eventID, eventType: delivery.eventType,
            attempt: attemptNumber, attemptedAt: attemptedAt, statusCode: statusCode, error: failure,
            durationMilliseconds: Int(duration.milliseconds), nextRetryAt: nextRetryAt
        )
        do {
            try await store.finishDelivery(attempt, outcome: outcome)
        } catch {
            logger.error("cannot record a webhook attempt; it will be retried when its lease ends",
                         metadata: ["delivery": "\(delivery.id)", "error": "\(String(reflecting: error))"])
        }
        if outcome == .gone { logger.warning("webhook disabled: \(Self.goneReason)", metadata: ["webhook": "\(delivery.webhookID)"]) }
    }

    /// Resolves and checks the target, then posts to the checked address and reads the response; returns the status.
    private func post(_ delivery: ClaimedDelivery, at attemptedAt: Timestamp, deadline: ContinuousClock.Instant) async throws -> Int {
        let target = try await policy.target(for: delivery.url, workspaceID: delivery.workspaceID, timeout: deadline - .now)
        let secret = try secrets.open(delivery.sealedSecret, webhookID: delivery.webhookID)
        let previous = try delivery.previousSealedSecret.map { try secrets.open($0, webhookID: delivery.webhookID) }
        let body = Array(delivery.payload.utf8)
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Keysmith-Webhooks/1")
        let timestamp = attemptedAt.milliseconds / 1000
        let signer = WebhookSigner(secret: secret, previousSecrets: previous.map { [$0] } ?? [])
        for (name, value) in signer.headers(id: delivery.eventID, timestamp: timestamp, body: body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let client = clients.acquire(target)
        defer { clients.release(target) }
        let remaining = max(.zero, deadline - .now)
        let response = try await client.execute(request, deadline: .now() + .nanoseconds(Int64(remaining.milliseconds) * 1_000_000))
        // The body is read (and discarded) under the same deadline: a receiver that stalls mid-body fails the attempt.
        _ = try await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }

    struct DeadlineExceeded: Error {}

    /// Runs `operation`, cancelling it when `timeout` passes; its cancellation closes the connection.
    static func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DeadlineExceeded()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw DeadlineExceeded() }
            return first
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .cancelled: return "timed out"
            case .remoteConnectionClosed: return "connection closed by the receiver"
            default: return "request failed: \(error)"
            }
        }
        if error is DeadlineExceeded || error is CancellationError { return "timed out" }
        if error is SecretBoxError { return "cannot open the webhook secret (wrong encryption key?)" }
        return "request failed: \(String(describing: error).prefix(200))"
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
