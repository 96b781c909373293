import Bitrix24Wire

extension Simulator {
    /// What the portal did, for tests: a consistent copy taken at one moment.
    public struct Snapshot: Sendable {
        /// Effects on the portal's data.
        public struct Effects: Sendable, Hashable {
            public var notificationsCreated = 0
            /// Older notifications deleted because a new one came with the same TAG.
            public var notificationsReplaced = 0
            public var notificationsDeleted = 0
            /// Notifications answered with `result: false` (unknown or inactive recipient).
            public var notificationsRefused = 0
            public var chatsCreated = 0
        }

        /// REST requests received (`/rest/...`), whatever became of them; a batch is one.
        public var requests = 0
        /// Batch requests that ran.
        public var batches = 0
        /// Method calls that ran: single calls plus every executed batch command, by method.
        public var callsByMethod: [String: Int] = [:]
        /// Requests answered with an error, by error code (QUERY_LIMIT_EXCEEDED, expired_token…).
        public var rejected: [String: Int] = [:]
        /// Batch commands that failed, by error code.
        public var commandErrors: [String: Int] = [:]
        /// Injected faults by kind.
        public var faults: [Fault: Int] = [:]
        /// Requests answered with a 302 because the portal was renamed.
        public var redirects = 0
        /// `im.chat.get` calls answered with what no client can read (`answerChatLookupsMalformed`).
        public var malformedChatLookups = 0
        /// Successful token refreshes, and refused ones by error code.
        public var refreshes = 0
        public var refreshErrors: [String: Int] = [:]
        /// Refreshes that rotated the pair and then lost their answer (`loseRefreshAnswers`).
        public var refreshAnswersLost = 0
        public var effects = Effects()
        /// Visible notifications (after TAG replacement and deletions), by id.
        public var notifications: [Notification] = []
        /// All chats, by id (the entity pair is not unique: duplicates show here).
        public var chats: [Chat] = []
        /// Level of the leaky bucket when the snapshot was taken.
        public var bucketLevel: Double = 0
        /// Records in the offline event queue, and how many of them a process has reserved.
        public var offlineEventsQueued = 0
        public var offlineEventsReserved = 0

        public var calls: Int { callsByMethod.values.reduce(0, +) }

        public func notifications(for userID: Int64) -> [Notification] {
            notifications.filter { $0.userID == userID }
        }

        public func chats(entityType: String, entityID: String) -> [Chat] {
            chats.filter { $0.entityType == entityType && $0.entityID == entityID }
        }

        /// The state as `GET /_sim/state` serves it.
        public var json: JSONValue {
            var byUser: [String: [JSONValue]] = [:]
            for n in notifications { byUser[String(n.userID), default: []].append(n.json) }
            var byEntity: [String: (String, String, [JSONValue])] = [:]
            for chat in chats {
                let key = "\(chat.entityType)\u{0}\(chat.entityID)"
                var entry = byEntity[key] ?? (chat.entityType, chat.entityID, [])
                entry.2.append(.int(chat.id))
                byEntity[key] = entry
            }
            return [
                "requests": .int(Int64(requests)),
                "batches": .int(Int64(batches)),
                "calls": .int(Int64(calls)),
                "callsByMethod": .object(callsByMethod.mapValues { .int(Int64($0)) }),
                "rejected": .object(rejected.mapValues { .int(Int64($0)) }),
                "commandErrors": .object(commandErrors.mapValues { .int(Int64($0)) }),
                "faults": .object(Dictionary(uniqueKeysWithValues: faults.map { ($0.key.rawValue, .int(Int64($0.value))) })),
                "redirects": .int(Int64(redirects)),
                "malformedChatLookups": .int(Int64(malformedChatLookups)),
                "refreshes": .int(Int64(refreshes)),
                "refreshErrors": .object(refreshErrors.mapValues { .int(Int64($0)) }),
                "refreshAnswersLost": .int(Int64(refreshAnswersLost)),
                "effects": [
                    "notificationsCreated": .int(Int64(effects.notificationsCreated)),
                    "notificationsReplaced": .int(Int64(effects.notificationsReplaced)),
                    "notificationsDeleted": .int(Int64(effects.notificationsDeleted)),
                    "notificationsRefused": .int(Int64(effects.notificationsRefused)),
                    "chatsCreated": .int(Int64(effects.chatsCreated)),
                ],
                "visibleNotifications": .int(Int64(notifications.count)),
                "notificationsByUser": .object(byUser.mapValues { .array($0) }),
                "chats": .array(chats.map(\.json)),
                "chatsByEntity": .array(
                    byEntity.values.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map {
                        ["entityType": .string($0.0), "entityId": .string($0.1), "chatIds": .array($0.2)]
                    }),
                "bucketLevel": .double(bucketLevel),
                "offlineEvents": [
                    "queued": .int(Int64(offlineEventsQueued)), "reserved": .int(Int64(offlineEventsReserved)),
                ],
            ]
        }
    }
}
