import Bitrix24Wire
import Foundation

extension Portal {
    /// `im.notify.personal.add` / `im.notify.system.add`.
    ///
    /// A TAG the same recipient already has (in the same application namespace) deletes that
    /// notification; the new one gets a new id. Unknown or inactive recipients answer `false`.
    func notifyAdd(
        _ p: [String: JSONValue], caller: Caller, kind: Simulator.Notification.Kind
    ) throws(PortalError) -> JSONValue {
        let userID = PHPValue.int(p["USER_ID"])
        guard userID > 0 else { throw .userIDEmpty }
        guard let message = PHPValue.string(p["MESSAGE"]),
            message.hasVisibleCharacters
        else { throw .messageEmpty }
        let attach = try AttachValidator(maxCharacters: configuration.maxAttachCharacters).validate(p["ATTACH"])

        guard users.contains(userID) else {
            stats.effects.notificationsRefused += 1
            return .bool(false)
        }
        let app = caller.tagNamespace(p) ?? ""
        let tag = PHPValue.string(p["TAG"]).flatMap { $0.isEmpty ? nil : $0 }
        let notification = Simulator.Notification(
            id: nextNotificationID, kind: kind, userID: userID,
            authorID: kind == .personal ? caller.userID : 0, message: message,
            messageOut: PHPValue.string(p["MESSAGE_OUT"]).flatMap { $0.isEmpty ? nil : $0 },
            tag: tag, subTag: PHPValue.string(p["SUB_TAG"]).flatMap { $0.isEmpty ? nil : $0 },
            app: app, attach: attach)
        nextNotificationID += 1
        stats.effects.notificationsReplaced += notifications.add(notification)
        stats.effects.notificationsCreated += 1
        return .int(notification.id)
    }

    /// `im.notify.delete` by `ID`, or by `TAG` / `SUB_TAG` for every recipient in the caller's
    /// application namespace. A webhook must name its application with `CLIENT_ID` to delete by tag.
    func notifyDelete(_ p: [String: JSONValue], caller: Caller) throws(PortalError) -> JSONValue {
        let id = PHPValue.int(p["ID"])
        let tag = PHPValue.string(p["TAG"]) ?? ""
        let subTag = PHPValue.string(p["SUB_TAG"]) ?? ""
        if id > 0 {
            guard notifications.remove(id: id) else { return .bool(false) }
            stats.effects.notificationsDeleted += 1
            return .bool(true)
        }
        guard !tag.isEmpty || !subTag.isEmpty else { throw .paramsError }
        guard let app = caller.tagNamespace(p) else { throw .clientIDNotSpecified }
        stats.effects.notificationsDeleted += notifications.removeAll {
            $0.app == app && (tag.isEmpty ? $0.subTag == subTag : $0.tag == tag)
        }
        return .bool(true)
    }
}
