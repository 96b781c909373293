import Bitrix24Wire
import Foundation

extension Simulator {
    /// Queues an offline event for the application, as the portal does when an event bound with
    /// `event_type=offline` fires. Content already waiting unreserved (same MESSAGE_ID: same name
    /// and data) is not queued twice: that record only gets a new TIMESTAMP_X.
    /// Returns the record's ID.
    @discardableResult
    public func queueOfflineEvent(name: String, data: JSONValue, userID: Int64? = nil) async -> Int64 {
        await portal.queueOfflineEvent(name: name, data: data, userID: userID)
    }

    /// Queues `ONIMCONNECTORDIALOGFINISH` with the `data` part that `sendDialogFinish` posts, raised
    /// by the application's user.
    @discardableResult
    public func queueOfflineDialogFinish(chatID: Int64, sessionID: Int64) async -> Int64 {
        let event = await dialogFinishEvent(chatID: chatID, sessionID: sessionID)
        return await queueOfflineEvent(name: OutgoingDialogFinish.name, data: event.data, userID: configuration.oauth.userID)
    }

    /// Every queued record, reserved or not, in ID order.
    public func offlineEvents() async -> [OfflineRecord] { await portal.offlineEvents.records }
}
