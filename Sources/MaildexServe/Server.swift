import Dispatch
import Hummingbird
import Logging
import MaildexCore
import NIOCore

/// `maildex serve`: the HTTP API and the web page over one index.
public enum Server {
    /// Serves until SIGINT or SIGTERM, then stops gracefully (requests in flight are
    /// answered). `ready` gets the address it listens on (`http://HOST:PORT`, the real
    /// port) once it accepts connections. Throws if the index cannot be opened or the
    /// address cannot be bound.
    public static func run(_ options: ServeOptions, ready: @escaping @Sendable (String) -> Void) throws {
        let searcher = try Searcher(directory: options.index, threads: options.threads)
        BlockCache.shared.capacityBytes = options.cacheMegabytes << 20
        let metrics = Metrics()
        let pool = WorkPool(threads: options.threads, metrics: metrics), heavyPool = WorkPool(threads: max(1, options.threads / 2))
        defer { pool.stop(); heavyPool.stop() }
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: GuardMiddleware(token: options.token, listenHost: options.host, metrics: metrics))
        API(searcher: searcher, pool: pool, heavyPool: heavyPool, metrics: metrics).routes(router)
        var logger = Logger(label: "maildex-serve")
        logger.logLevel = .error
        let host = options.host
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(host, port: options.port), serverName: nil, reuseAddress: true),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                ready("http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            },
            logger: logger
        )
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService() } catch { outcome.set(error) }
            done.signal()
        }
        done.wait()
        if let e = outcome.error {
            throw MaildexError(.io, "cannot serve on \(host):\(options.port): \(e)")
        }
    }
}

final class Outcome: @unchecked Sendable {
    private let lock = NSLockLite()
    private var failure: Error?
    func set(_ e: Error) { lock.with { failure = e } }
    var error: Error? { lock.with { failure } }
}
