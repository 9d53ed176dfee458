import Foundation
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

enum TestData {
    /// A fixture file's bytes (copied from `../shared/fixtures/` so the repository stands alone).
    static func fixture(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw GeneratorError(message: "missing fixture \(name)")
        }
        return Array(try Data(contentsOf: url))
    }

    static func fixturePath(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
    }

    /// Removes `path` when the test process exits (for fixtures shared by a suite,
    /// which no single test can delete).
    static func removeAtExit(_ path: String) {
        leftoversLock.lock()
        defer { leftoversLock.unlock() }
        if leftovers.isEmpty {
            atexit { for p in leftovers { try? FileManager.default.removeItem(atPath: p) } }
        }
        leftovers.append(path)
    }

    /// A new empty directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String) -> String {
        let path = NSTemporaryDirectory() + "maildex-\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func generate(_ label: String, dialect: Dialect, compression: CorpusCompression = .none, days: Int = 2,
                         sessionsPerDay: Int = 400, seed: UInt64 = 7, recordLines: Bool = true) throws -> (String, GeneratedCorpus) {
        let dir = temporaryDirectory(label)
        var o = GeneratorOptions()
        o.days = days
        o.sessionsPerDay = sessionsPerDay
        o.seed = seed
        o.dialect = dialect
        o.compression = compression
        o.recordLines = recordLines
        o.frameSize = 64 << 10
        o.startDate = CivilDate(year: 2026, month: 3, day: 28)!
        let corpus = try CorpusGenerator(options: o).run(directory: dir)
        return (dir, corpus)
    }

    /// The terms the index writer makes of one SMTPI session with these facts (no lines).
    static func termBatch(of facts: SessionFacts, number: UInt64, date: CivilDate, channel: UInt32, server: String? = nil) -> TermBatch {
        let record = SessionRecord(number: number, date: date, channel: ChannelKey(kind: ChannelKey.smtpi, id: channel),
                                   complete: true, startSecond: 0, facts: facts, lineCount: 0, textBytes: 0, firstSource: 0) { _ in }
        record.server = server.map { Array($0.utf8) }
        var batch = TermBatch()
        batch.add(session: record)
        return batch
    }
}

nonisolated(unsafe) private var leftovers: [String] = []
private let leftoversLock = NSLock()

extension String {
    init(bytes: some Sequence<UInt8>) { self = String(decoding: Array(bytes), as: UTF8.self) }
}
