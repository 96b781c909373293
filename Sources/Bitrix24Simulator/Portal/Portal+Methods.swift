import Bitrix24Wire
import Foundation

/// What running one method gave.
struct MethodOutcome: Sendable {
    var result: Result<JSONValue, PortalError>
    /// Seconds the method ran.
    var processing: Double = 0
    /// For `OPERATION_TIME_LIMIT`: when the method becomes usable again.
    var blockedUntil: Int64? = nil
    /// For list methods: `total` and `next`.
    var page: ListPage? = nil
}

extension Portal {
    static let methods: Set<String> = [
        "im.chat.add", "im.chat.get", "im.notify.personal.add", "im.notify.system.add",
        "im.notify.delete", "server.time", "event.offline.get", "event.offline.clear", "event.offline.list",
    ]

    static let chatColors: Set<String> = [
        "RED", "GREEN", "MINT", "LIGHT_BLUE", "DARK_BLUE", "PURPLE", "AQUA", "PINK", "LIME",
        "BROWN", "AZURE", "KHAKI", "SAND", "MARENGO", "GRAY", "GRAPHITE",
    ]

    /// Runs one method (alone or as a batch command) under the operating-time budget.
    func run(_ method: String, params: [String: JSONValue], caller: Caller) -> MethodOutcome {
        guard Self.methods.contains(method) else { return MethodOutcome(result: .failure(.methodNotFound)) }
        let now = Date()
        if let limit = configuration.operatingLimit, budget.used(by: method, now: now) >= limit.budget {
            let until = budget.unblockAt(method, budget: limit.budget, now: now)
            return MethodOutcome(result: .failure(.operationTimeLimit), blockedUntil: until)
        }
        let clock = ContinuousClock()
        let started = clock.now
        var page: ListPage?
        let result = dispatch(method, params: PHPValue.upperKeys(params), caller: caller, page: &page)
        let processing = (clock.now - started).inSeconds
        let cost = configuration.operatingLimit.map { $0.methodCosts[method] ?? $0.costPerCall } ?? processing
        budget.charge(method, seconds: cost, now: Date())
        stats.callsByMethod[method, default: 0] += 1
        return MethodOutcome(result: result, processing: processing, page: page)
    }

    private func dispatch(
        _ method: String, params: [String: JSONValue], caller: Caller, page: inout ListPage?
    ) -> Result<JSONValue, PortalError> {
        do {
            switch method {
            case "im.chat.add": return .success(try chatAdd(params, caller: caller))
            case "im.chat.get": return .success(chatGet(params))
            case "im.notify.personal.add": return .success(try notifyAdd(params, caller: caller, kind: .personal))
            case "im.notify.system.add": return .success(try notifyAdd(params, caller: caller, kind: .system))
            case "im.notify.delete": return .success(try notifyDelete(params, caller: caller))
            case "server.time": return .success(.string(TimeBlock.format(Date(), in: configuration.timeZone)))
            case "event.offline.get": return .success(try offlineGet(params, caller: caller))
            case "event.offline.clear": return .success(try offlineClear(params, caller: caller))
            case "event.offline.list": return .success(try offlineList(params, caller: caller, page: &page))
            default: return .failure(.methodNotFound)
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: Chats

    /// `im.chat.add`. The entity pair is not unique: a second add makes a second chat.
    func chatAdd(_ p: [String: JSONValue], caller: Caller) throws(PortalError) -> JSONValue {
        let type = (PHPValue.string(p["TYPE"]) ?? "").uppercased()
        guard type.isEmpty || type == "OPEN" || type == "CHAT" else {
            throw .wrongRequest("TYPE must be OPEN or CHAT")
        }
        let title = PHPValue.string(p["TITLE"]) ?? ""
        guard title.unicodeScalars.count <= 255 else { throw .wrongRequest("TITLE is longer than 255 characters") }
        var color: String?
        if let raw = PHPValue.string(p["COLOR"]), !raw.isEmpty {
            guard Self.chatColors.contains(raw.uppercased()) else { throw .wrongRequest("Unknown COLOR \(raw)") }
            color = raw.uppercased()
        }
        let entityType = PHPValue.string(p["ENTITY_TYPE"]) ?? ""
        guard entityType.unicodeScalars.count <= 50 else {
            throw .wrongRequest("ENTITY_TYPE is longer than 50 characters")
        }
        let entityID = PHPValue.string(p["ENTITY_ID"]) ?? ""
        guard entityID.unicodeScalars.count <= 255 else {
            throw .wrongRequest("ENTITY_ID is longer than 255 characters")
        }
        var members = [caller.userID]
        if let raw = p["USERS"] {
            // A list, or a PHP array with other keys (a form body's USERS[5]=…); never a scalar.
            let items: [JSONValue]
            switch raw {
            case .array(let list): items = list
            case .object(let dict): items = Array(dict.values)
            default: throw .usersFormat
            }
            for item in items {
                let id = PHPValue.int(item)
                guard id > 0, item.arrayValue == nil, item.objectValue == nil else { throw .usersFormat }
                if users.contains(id), !members.contains(id) { members.append(id) }
            }
        }
        let avatar = PHPValue.string(p["AVATAR"]) ?? ""
        let chat = Simulator.Chat(
            id: nextChatID, type: type.isEmpty ? "CHAT" : type,
            title: title.isEmpty ? "Chat #\(nextChatID)" : title,
            description: PHPValue.string(p["DESCRIPTION"]) ?? "", color: color,
            message: PHPValue.string(p["MESSAGE"]).flatMap { $0.isEmpty ? nil : $0 },
            entityType: entityType, entityID: entityID, ownerID: caller.userID, users: members,
            hasAvatar: !avatar.isEmpty && Data(base64Encoded: avatar) != nil)
        nextChatID += 1
        chats.add(chat)
        stats.effects.chatsCreated += 1
        return .int(chat.id)
    }

    /// `im.chat.get`: the first chat with the entity pair, or null, also for parameters PHP's
    /// `empty()` takes for nothing (missing, "" or "0"). With `malformedChatLookups` on, an
    /// answer no client can read (`[]`), as a broken portal or proxy may give.
    func chatGet(_ p: [String: JSONValue]) -> JSONValue {
        if malformedChatLookups {
            stats.malformedChatLookups += 1
            return []
        }
        guard let type = PHPValue.string(p["ENTITY_TYPE"]), !PHPValue.isEmpty(type),
            let id = PHPValue.string(p["ENTITY_ID"]), !PHPValue.isEmpty(id),
            let chat = chats.first(entityType: type, entityID: id)
        else { return .null }
        return ["ID": .int(chat.id)]
    }
}
