/// Chat (command 10): raw UTF-8 text without framing, sequence 0, no reply (a debug feature).
public enum ChatMessage {
    public static func encode(_ text: String) throws(ProtocolError) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.count <= WireLimits.maxPayload else {
            throw .tooLarge(what: "chat text", size: bytes.count, limit: WireLimits.maxPayload)
        }
        return bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> String {
        guard let text = String(validating: payload, as: UTF8.self) else { throw .invalidUTF8(what: "chat text") }
        return text
    }
}
