import Bitrix24Wire

/// Checks an `ATTACH` parameter the way the portal does: the object form
/// `{"ID", "COLOR_TOKEN", "COLOR", "BLOCKS": [...]}` or the bare BLOCKS array; each block has
/// exactly one key of a known type with that type's required fields; the serialized
/// attachment must fit the size limit.
struct AttachValidator: Sendable {
    var maxCharacters: Int

    static let colorTokens: Set<String> = ["primary", "secondary", "alert", "base"]
    static let gridDisplays: Set<String> = ["BLOCK", "LINE", "ROW", "TABLE"]

    /// Returns the attachment to store (nil when none was given), or throws
    /// `ATTACH_ERROR` / `ATTACH_OVERSIZE`.
    func validate(_ attach: JSONValue?) throws(PortalError) -> JSONValue? {
        guard var attach, !Self.isEmpty(attach) else { return nil }
        // Portals also take the attachment as a JSON string.
        if case .string(let text) = attach {
            guard let parsed = try? JSONValue(jsonData: Array(text.utf8)) else {
                throw .attachError("ATTACH is neither an array nor JSON")
            }
            attach = parsed
        }
        let blocks: [JSONValue]
        switch attach {
        case .array(let items):
            blocks = items
        case .object(let members):
            guard let list = members["BLOCKS"]?.arrayValue else { throw .attachError("BLOCKS must be an array") }
            if let token = members["COLOR_TOKEN"] {
                guard let t = token.stringValue, Self.colorTokens.contains(t) else {
                    throw .attachError("unknown COLOR_TOKEN")
                }
            }
            if let color = members["COLOR"], color.stringValue == nil { throw .attachError("COLOR must be a string") }
            blocks = list
        default:
            throw .attachError("ATTACH must be an array")
        }
        guard !blocks.isEmpty else { throw .attachError("no blocks") }
        for (index, block) in blocks.enumerated() {
            try validateBlock(block, index: index)
        }
        if attach.jsonString.count > maxCharacters { throw .attachOversize }
        return attach
    }

    private func validateBlock(_ block: JSONValue, index: Int) throws(PortalError) {
        guard let members = block.objectValue, members.count == 1, let (type, value) = members.first else {
            throw .attachError("block \(index) must be an object with exactly one key")
        }
        switch type {
        case "MESSAGE":
            guard let text = value.stringValue, !text.isEmpty else { throw .attachError("MESSAGE block \(index) is empty") }
        case "LINK":
            try requireEach(value, field: "LINK", type: type, index: index)
        case "USER":
            try requireEach(value, field: "NAME", type: type, index: index)
        case "IMAGE":
            try requireEach(value, field: "LINK", type: type, index: index)
        case "FILE":
            try requireEach(value, field: "LINK", type: type, index: index)
        case "GRID":
            guard let rows = value.arrayValue, !rows.isEmpty else { throw .attachError("GRID block \(index) must be an array") }
            for row in rows {
                guard let display = row["DISPLAY"]?.stringValue, Self.gridDisplays.contains(display) else {
                    throw .attachError("GRID block \(index) needs DISPLAY of BLOCK, LINE, ROW or TABLE")
                }
            }
        case "DELIMITER":
            // `{SIZE, COLOR}`, all optional; a form body can only send it as an empty string.
            guard value.objectValue != nil || value.arrayValue?.isEmpty == true || value.stringValue == "" else {
                throw .attachError("DELIMITER block \(index) must be an object")
            }
        default:
            throw .attachError("unknown block type \(type)")
        }
    }

    /// LINK, USER, IMAGE and FILE take one object or a list of them, each with `field` set.
    private func requireEach(_ value: JSONValue, field: String, type: String, index: Int) throws(PortalError) {
        let items = value.arrayValue ?? [value]
        guard !items.isEmpty else { throw .attachError("\(type) block \(index) is empty") }
        for item in items {
            guard let text = item[field]?.stringValue, !text.isEmpty else {
                throw .attachError("\(type) block \(index) needs \(field)")
            }
        }
    }

    /// PHP's `empty()`: missing, "", "0", [], null and false all mean "no attachment".
    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return true
        case .string(let s): return s.isEmpty || s == "0"
        case .array(let a): return a.isEmpty
        case .object(let o): return o.isEmpty
        case .bool(let b): return !b
        case .int(let i): return i == 0
        case .double(let d): return d == 0
        }
    }
}
