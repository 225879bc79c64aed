@testable import PeernetBlockchain
import PeernetProtocol
import PeernetSupport
import TestSupport
import XCTest

final class SearchTextTests: XCTestCase {
    func words(_ j: JSON) -> Set<String> { Set(j.array.map { $0["word"].string }) }
    func hashes(_ j: JSON) -> Set<String> { Set(j.array.map { $0["hash"].string }) }

    func testCamelCase() throws {
        let file = try Vectors.load("search.json")
        for c in file["camel_case"].array {
            XCTAssertEqual(SearchText.camelCaseSplit(c["input"].string), c["output"].array.map(\.string), c["input"].string)
        }
    }

    func testFileNamesIndexExactlyAsTheReference() throws {
        let file = try Vectors.load("search.json")
        for f in file["filenames"].array {
            let name = f["filename"]["hex"].bytes, folder = f["folder"]["hex"].bytes, description = f["description"]["hex"].bytes
            XCTAssertEqual(Array(SearchText.sanitize(name).utf8), f["sanitized_filename"]["hex"].bytes, f["filename"]["text"].string)
            XCTAssertEqual(Array(SearchText.sanitize(folder).utf8), f["sanitized_folder"]["hex"].bytes)
            XCTAssertEqual(Array(SearchText.sanitize(description).utf8), f["sanitized_description"]["hex"].bytes)
            XCTAssertEqual(SearchText.removeExtension(SearchText.sanitize(name)), f["filename_without_extension"].string)
            let index = SearchText.indexWords(name: SearchText.sanitize(name), folder: SearchText.sanitize(folder),
                                              description: SearchText.sanitize(description))
            XCTAssertEqual(Set(index.map(\.word)), words(f["index_hashes"]), f["filename"]["text"].string)
            XCTAssertEqual(Set(index.map(\.hash.hex)), hashes(f["index_hashes"]), f["filename"]["text"].string)
            XCTAssertEqual(Set(index.map(\.hash.hex)), Set(f["index_keys_in_store"].array.map(\.string)))
            let descriptionOnly = SearchText.indexWords(name: "", folder: "", description: SearchText.sanitize(description))
            XCTAssertEqual(Set(descriptionOnly.map(\.word)), words(f["description_text2hashes"]))
        }
    }

    func testTermsParseAsTheReference() throws {
        let file = try Vectors.load("search.json")
        for t in file["terms"].array {
            let label = t["term"]["text"].string
            let term = SearchText.parseTerm(SearchText.sanitize(t["term"]["hex"].bytes))
            XCTAssertEqual(Array(term.sanitized.utf8), t["sanitized"]["hex"].bytes, label)
            XCTAssertEqual(term.isExact, t["is_exact"].bool, label)
            XCTAssertEqual(term.isWildcard, t["is_wildcard"].bool, label)
            if t["exact_hash"].exists && term.sanitized.utf8.count >= 3 {
                XCTAssertEqual(term.exact?.word, t["exact_hash"]["word"].string, label)
                XCTAssertEqual(term.exact?.hash.hex, t["exact_hash"]["hash"].string, label)
            } else {
                XCTAssertNil(term.exact, label)
            }
            XCTAssertEqual(Set(term.words.map(\.hash.hex)), hashes(t["lookup_hashes"]), label)
        }
    }

    func testLowercasingIsGoSimple() {
        XCTAssertEqual(SearchText.lowercase("İstanbul"), "istanbul")
        XCTAssertEqual(SearchText.lowercase("ÉCOLE"), "école")
        XCTAssertEqual(SearchText.lowercase("STRASSE"), "strasse")
        XCTAssertEqual(SearchText.lowercase("ΣΊΣΥΦΟΣ"), "σίσυφοσ", "no final-sigma context rule")
    }

    /// The ASCII fast paths give exactly what the scalar-by-scalar code gives, for random text
    /// made of letters of both cases, digits, every separator, '#', spaces and other signs.
    func testASCIIWordsAndKeysMatchTheScalarPath() {
        let alphabet = Array("aZbYcX09 \t#+-._()[],/'&!~AbCDefGHijKLMnoPQ".utf8)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0..<24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertEqual(SearchText.asciiWords(bytes), SearchText.scalarWords(text), text)
            let generic = SearchText.trimSpace(SearchText.lowercase(text))
            XCTAssertEqual(SearchText.asciiNormalizedWord(text), generic.utf8.count >= 3 ? generic : nil, text)
            XCTAssertEqual(SearchText.hashWord(text)?.hash, generic.utf8.count >= 3 ? Hash256.blake3(Array(generic.utf8)) : nil, text)
        }
    }

    /// The extension rules work on bytes, as Go's path.Ext does: the last '.' after the last
    /// '/', whatever follows it.
    func testExtensionsAreFoundOnBytes() {
        XCTAssertEqual(SearchText.removeExtension("Summer Clip.MP4"), "Summer Clip")
        XCTAssertEqual(SearchText.fileExtension("Summer Clip.MP4"), "mp4")
        XCTAssertEqual(SearchText.removeExtension("a.b/c"), "a.b/c")
        XCTAssertNil(SearchText.fileExtension("a.b/c"))
        XCTAssertNil(SearchText.fileExtension("trailing."))
        XCTAssertEqual(SearchText.removeExtension("trailing."), "trailing")
        XCTAssertEqual(SearchText.removeExtension("café.résumé"), "café")
        XCTAssertEqual(SearchText.fileExtension("Ünïcode.ÄVI"), "ävi")
        XCTAssertEqual(SearchText.removeExtension("x.\u{301}y"), "x", "a dot before a combining mark still ends the name (Go: bytes)")
        // The catalog's texts are the hashed keys' words.
        let texts = SearchText.indexTexts(name: "Holiday Trip.MKV", folder: "Videos\\2024/Summer", description: "Beach day", withExtension: true)
        XCTAssertEqual(Set(SearchText.indexWordsWithExtension(name: "Holiday Trip.MKV", folder: "Videos\\2024/Summer", description: "Beach day").map(\.word)), texts)
        XCTAssertTrue(texts.isSuperset(of: ["holiday trip.mkv", "holiday trip", "holiday", "trip", "videos", "2024", "summer", "beach", "day", "mkv"]), "\(texts)")
    }
}
