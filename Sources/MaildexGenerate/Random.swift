import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// A small, fast, deterministic generator (SplitMix64): the corpus for a seed is
/// the same on every machine and every run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n`.
    @inline(__always) public mutating func below(_ n: Int) -> Int {
        Int((next() >> 11) % UInt64(max(n, 1)))
    }

    /// True with probability `p`.
    @inline(__always) public mutating func chance(_ p: Double) -> Bool {
        Double(next() >> 11) * (1.0 / 9007199254740992.0) < p
    }

    /// Uniform in [0, 1).
    @inline(__always) public mutating func unit() -> Double { Double(next() >> 11) * (1.0 / 9007199254740992.0) }
}
