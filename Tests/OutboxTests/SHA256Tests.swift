@testable import Outbox
import Testing

@Suite("SHA-256 of archive files")
struct SHA256Tests {
    static func digest(_ text: String, pieces: Int = 1) -> String {
        let bytes = Array(text.utf8)
        var hash = SHA256()
        let size = max(1, bytes.count / pieces)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            bytes[start..<end].withUnsafeBytes { hash.update($0) }
            start = end
        }
        return hash.finish()
    }

    @Test("FIPS 180-4 test vectors, fed whole and in uneven pieces")
    func vectors() {
        let vectors = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            // 56 bytes: the length no longer fits the first block's padding.
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            (String(repeating: "a", count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ]
        for (text, expected) in vectors {
            for pieces in [1, 3, 7, 1000] {
                #expect(Self.digest(text, pieces: pieces) == expected, "\(text.prefix(10))… in \(pieces) pieces")
            }
        }
    }
}
