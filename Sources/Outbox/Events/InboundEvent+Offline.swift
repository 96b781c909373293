import Bitrix24
import Bitrix24Wire
import Foundation

extension InboundEvent {
    /// An event read from the portal's offline queue (`event.offline.get`); the queue id makes
    /// it unique, so storing it again after a crash stores nothing.
    public init(offline event: OfflineEvent) {
        var data: [String: JSONValue] = [
            "event": .string(event.eventName),
            "source": "offline",
            "offline_id": .int(event.id),
            "message_id": .string(event.messageID),
            "payload": JSONValue.object([
                "event": .string(event.eventName), "data": event.data, "additional": event.additional,
            ]).withoutTokens(),
        ]
        data["timestamp"] = event.timestamp.map(JSONValue.string)
        self.fingerprint = "offline:\(event.id)"
        self.links = []
        self.data = .object(data)
        if let fields = try? Bitrix24Event(fields: ["event": .string(event.eventName), "data": event.data]) {
            decodeDialog(fields)
        }
        replaceNUL()
    }
}
