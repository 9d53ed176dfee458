import ArgumentParser
import MaildexCore
import MaildexServe

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the index over HTTP: a JSON API under /api/v1 and a web page at /.",
        discussion: """
        Listens on loopback (127.0.0.1:8025) unless told otherwise; a non-loopback
        address needs --token-file, and then every request needs
        `Authorization: Bearer TOKEN`. Read-only. Prints `listening on http://HOST:PORT`
        when ready (port 0 picks a free one); SIGINT or SIGTERM stop it gracefully.
        A run of `maildex index` on the same directory is seen without a restart.

        API: /api/v1/sessions?q=TERMS&limit=N&cursor=C&order=oldest|newest,
        /api/v1/sessions/ID, /api/v1/sessions/ID/evidence, /api/v1/count?q=,
        /api/v1/stats?q=, /api/v1/histogram?q=&bucket=day|hour,
        /api/v1/export?q=&format=ndjson|csv, /api/v1/info, /healthz.

        Exit status: 0 after a signal; 2 if the index cannot be opened, the address
        cannot be bound, or a non-loopback address has no token.

        Examples:
          maildex serve --index idx
          maildex serve --index idx --listen 127.0.0.1:0
          openssl rand -hex 32 > token && maildex serve --index idx --listen 0.0.0.0:8025 --token-file token
        """
    )

    @Option(help: "Index directory.")
    var index: String

    @Option(help: "HOST:PORT to listen on (port 0: any free port).")
    var listen: String = ServeOptions.defaultListen

    @Option(help: "File whose first line is the token every request must carry (needed off loopback).")
    var tokenFile: String? = nil

    @Option(help: "Threads for lookups (default: every core); statistics, histograms and exports get half as many more.")
    var threads: Int? = nil

    @Option(help: "MiB of decompressed session blocks kept in memory for repeated lookups (0: none).")
    var cacheMb: Int = 256

    func validate() throws {
        if cacheMb < 0 { throw ValidationError("--cache-mb must be 0 or more") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let options = try ServeOptions(index: index, listen: listen, tokenFile: tokenFile, threads: threads ?? Parallel.cores, cacheMegabytes: cacheMb)
            try Server.run(options) { address in
                emit("listening on \(address)")
                ByteOutput.standardOutput.flush()
            }
        } catch {
            throw fail(error)
        }
    }
}
