import Keysmith
import Synchronization

/// The application's clock in tests, moved forward instead of sleeping (`options.clock = clock.now`).
///
/// It is the real time plus an offset that only grows, not a frozen time: the stores stamp some rows with
/// their own clock (change-feed entries, the events of a rename), and a frozen clock would fall behind them,
/// so a delivery due "now" by the store would never be due by the application.
final class TestClock: Sendable {
    private let offset = Mutex<Int64>(0)
    /// A frozen clock's time: for tests of the application's own timing alone (a rate limit's window),
    /// which a loaded machine's real seconds would otherwise move.
    private let frozenAt: Timestamp?

    init(frozen: Bool = false) {
        frozenAt = frozen ? Timestamp.now() : nil
    }

    var now: @Sendable () -> Timestamp { { self.read() } }

    func read() -> Timestamp { (frozenAt ?? Timestamp.now()).adding(milliseconds: offset.withLock { $0 }) }

    func advance(seconds: Double) {
        precondition(seconds >= 0, "a test clock only moves forward")
        offset.withLock { $0 += Int64(seconds * 1000) }
    }
}
