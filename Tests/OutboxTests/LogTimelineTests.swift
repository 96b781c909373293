import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Testing

/// The human lines of the log, entry type by entry type, exactly as `log` and the demo print them.
@Suite struct LogTimelineTests {
    /// 2026-11-23 17:55:01.000 UTC.
    static let start = Date(timeIntervalSince1970: 1_795_456_501)

    static func entry(_ type: String, at offset: Double, intent: Int64? = 97, _ data: JSONValue) -> AuditLog.Entry {
        AuditLog.Entry(seq: Int64((offset * 1000).rounded()), recordedAt: start.addingTimeInterval(offset),
                       stream: intent.map { "intent-\($0)" } ?? "portal-main", type: type, intentID: intent,
                       portal: "main", data: data)
    }

    static let story: [AuditLog.Entry] = [
        entry(LogType.intentEnqueued, at: 0, [
            "kind": "notify.personal", "key": "order-7-shipped",
            "payload": ["USER_ID": 10, "MESSAGE": "Order #7 has shipped with DHL.", "ATTACH": [["MESSAGE": "x"]], "TAG": "b24o:7"],
        ]),
        entry(LogType.intentClaimed, at: 0.938, ["worker": "host-1/4242/0", "attempt": 1, "lease_expires_at": "2026-11-23T17:57:01.938000+00:00"]),
        entry(LogType.deliveryFailed, at: 1.190, [
            "error": "INVALID_RESPONSE", "class": "ambiguous", "http_status": 502, "worker": "host-1/4242/0", "attempt": 1,
            "next_attempt_at": "2026-11-23T17:55:02.440123+00:00",
        ]),
        entry(LogType.intentReleased, at: 2.5, ["reason": "the portal's method is paused"]),
        entry(LogType.intentLeaseExpired, at: 130, [
            "previous_worker": "host-1/4242/1", "lease_expires_at": "2026-11-23T17:57:09.000000+00:00", "attempt": 2,
            "lease_expiries": 1, "next_attempt_at": "2026-11-23T17:57:12.000000+00:00",
        ]),
        entry(LogType.intentDead, at: 140, [
            "error": "RESULT_FALSE", "class": "permanent",
            "error_description": "im.notify.personal.add answered false: the recipient does not exist or is inactive",
        ]),
        entry(LogType.intentReplayed, at: 150, ["by": "cli", "previous_status": "dead", "previous_error": "RESULT_FALSE"]),
        entry(LogType.deliverySucceeded, at: 150.498, [
            "method": "im.notify.personal.add", "result_id": 101251, "result": 101251, "http_status": 200, "duration_ms": 308.4,
            "batch_size": 10, "worker": "host-1/4242/2", "attempt": 1,
        ]),
    ]

    @Test("an intent's timeline: times from its first entry, each type's gist")
    func timelineOfOneIntent() {
        #expect(LogTimeline.timeline(Self.story) == [
            #"+0.000 s    intent.enqueued       notify.personal to user 10: "Order #7 has shipped with DHL." + ATTACH"#,
            "+0.938 s    intent.claimed        attempt 1 by worker host-1/4242/0",
            "+1.190 s    delivery.failed       INVALID_RESPONSE (ambiguous, HTTP 502), next attempt in 0.25 s",
            "+2.500 s    intent.released       handed back without spending an attempt: the portal's method is paused",
            "+130.000 s  intent.lease_expired  the lease of worker host-1/4242/1 ran out in attempt 2, 1 lost in a row, next attempt in 1.00 s",
            "+140.000 s  intent.dead           RESULT_FALSE: im.notify.personal.add answered false: the recipient does not exist or is inactive",
            "+150.000 s  intent.replayed       by cli, was dead (RESULT_FALSE)",
            "+150.498 s  delivery.succeeded    im.notify.personal.add → 101251, HTTP 200, 308 ms, batch of 10",
        ])
        #expect(LogTimeline.timeline([]) == [])
        // What log prints for one intent: a line naming it and when its story began, then the timeline.
        #expect(LogTimeline.lines(Self.story) == ["intent 97 on portal main, from 2026-11-23 17:55:01.000Z"] + LogTimeline.timeline(Self.story))
    }

    @Test("the other intent entries: a chat, a lookup that found the chat, a cancel, a dialog's end")
    func otherIntentEntries() {
        let entries = [
            Self.entry(LogType.intentEnqueued, at: 0, intent: 98, ["kind": "chat.create", "payload": ["TITLE": "Deal 7", "USERS": [1, 10]]]),
            Self.entry(LogType.deliverySucceeded, at: 1, intent: 98, [
                "method": "im.chat.get", "result_id": 1001, "http_status": 200, "duration_ms": 12.0, "batch_size": 1,
                "found_existing_chat": true,
            ]),
            Self.entry(LogType.chatDialogFinished, at: 2, intent: 98, ["chat_id": 1001, "session_id": 3282, "event_seq": 5]),
            Self.entry(LogType.intentCancelled, at: 3, intent: 98, ["by": "cli", "previous_status": "pending"]),
            Self.entry(LogType.intentReplayed, at: 4, intent: 98, ["by": "cli", "previous_status": "cancelled", "previous_error": nil]),
        ]
        #expect(LogTimeline.timeline(entries) == [
            #"+0.000 s    intent.enqueued       chat.create: "Deal 7""#,
            "+1.000 s    delivery.succeeded    im.chat.get → 1001, HTTP 200, 12 ms, batch of 1, found the chat an earlier attempt created",
            "+2.000 s    chat.dialog_finished  dialog finished in chat 1001",
            "+3.000 s    intent.cancelled      by cli, was pending",
            "+4.000 s    intent.replayed       by cli, was cancelled",
        ])
    }

    @Test("entries of no intent: events from Bitrix24, portal changes, an archived month; each with its time and stream")
    func portalAndEventEntries() {
        let entries: [AuditLog.Entry] = [
            Self.entry(LogType.bitrixEvent, at: 0, intent: nil, [
                "event": "ONIMCONNECTORDIALOGFINISH", "source": "push", "domain": "example.bitrix24.com",
                "chat_ids": [1001, 1002], "payload": ["data": ["CONNECTOR": "b24outbox"]], "fingerprint": "sha256:ab",
            ]),
            Self.entry(LogType.bitrixEvent, at: 1, intent: nil, [
                "event": "ONIMCONNECTORDIALOGFINISH", "source": "offline", "offline_id": 77, "message_id": "m-77",
                "chat_ids": [1, 2, 3, 4, 5], "decode_error": "no DATA[SESSIONS]",
            ]),
            Self.entry("portal.added", at: 2, intent: nil, [
                "auth_kind": "webhook", "base_url": "https://example.bitrix24.com/", "accepts_events": true,
                "rate_bucket": 50, "rate_drain": 2.0,
            ]),
            Self.entry("portal.moved", at: 3, intent: nil, ["from": "https://example.bitrix24.com/", "to": "https://new.bitrix24.com/"]),
            Self.entry("portal.tokens_set", at: 4, intent: nil, ["by": "cli", "expires_at": 1_795_460_101.0]),
            Self.entry("portal.tokens_refreshed", at: 5, intent: nil, ["expires_at": 1_795_460_106.5, "after_unanswered": 1]),
            Self.entry("portal.token_refresh_unanswered", at: 6, intent: nil, [
                "holder": "host-1/4242", "unanswered": 1, "error": "the holder's turn ended before it recorded an answer",
            ]),
            Self.entry("portal.token_refresh_refused", at: 7, intent: nil, ["holder": "host-1/4242", "error": "invalid_grant"]),
            Self.entry("portal.tokens_lost", at: 8, intent: nil, ["holder": "host-2/77", "unanswered": 2, "error": "invalid_grant"]),
            Self.entry("portal.removed", at: 9, intent: nil, [:]),
            AuditLog.Entry(seq: 10_000, recordedAt: Self.start.addingTimeInterval(10), stream: "log", type: "log.archived", data: [
                "month": "2026-10", "partition": "log_2026_10", "file": "log_2026_10.copy", "rows": 1200, "first_seq": 1,
                "last_seq": 1200, "sha256": "9f86d081", "format": "COPY text",
            ]),
            AuditLog.Entry(seq: 10_001, recordedAt: Self.start.addingTimeInterval(11), stream: "log", type: "some.new_type",
                           data: ["b": 2, "a": "x"]),
        ]
        #expect(entries.map(LogTimeline.line) == [
            "2026-11-23 17:55:01.000Z  portal-main  bitrix.event          ONIMCONNECTORDIALOGFINISH pushed by example.bitrix24.com, chats 1001, 1002",
            "2026-11-23 17:55:02.000Z  portal-main  bitrix.event          ONIMCONNECTORDIALOGFINISH pulled from the offline queue (id 77), chats 1, 2, 3 and 2 more, not decoded: no DATA[SESSIONS]",
            "2026-11-23 17:55:03.000Z  portal-main  portal.added          webhook portal at https://example.bitrix24.com/, rate bucket 50 drained 2/s, accepts events",
            "2026-11-23 17:55:04.000Z  portal-main  portal.moved          from https://example.bitrix24.com/ to https://new.bitrix24.com/",
            "2026-11-23 17:55:05.000Z  portal-main  portal.tokens_set     by cli, access token expires 2026-11-23 18:55:01.000Z",
            "2026-11-23 17:55:06.000Z  portal-main  portal.tokens_refreshed refreshed, access token expires 2026-11-23 18:55:06.500Z, after 1 unanswered refreshes",
            "2026-11-23 17:55:07.000Z  portal-main  portal.token_refresh_unanswered refresh by host-1/4242 unanswered (1 in a row): the holder's turn ended before it recorded an answer",
            "2026-11-23 17:55:08.000Z  portal-main  portal.token_refresh_refused Bitrix24 refused the refresh by host-1/4242: invalid_grant",
            "2026-11-23 17:55:09.000Z  portal-main  portal.tokens_lost    lost after 2 unanswered refreshes, then refused to host-2/77: invalid_grant",
            "2026-11-23 17:55:10.000Z  portal-main  portal.removed        removed",
            "2026-11-23 17:55:11.000Z  log          log.archived          2026-10: 1200 entries (seq 1–1200) to log_2026_10.copy, SHA-256 9f86d081",
            #"2026-11-23 17:55:12.000Z  log          some.new_type         {"a":"x","b":2}"#,
        ])
        // Entries of more than one stream are never a timeline.
        #expect(LogTimeline.lines(entries) == entries.map(LogTimeline.line))
        #expect(LogTimeline.lines([Self.story[1], entries[0]]) == [LogTimeline.line(Self.story[1]), LogTimeline.line(entries[0])])
    }

    @Test("one line per intent: time of its latest entry, id, kind, recipient, status, Bitrix24's last answer")
    func intentSummaries() {
        let at = Self.start.addingTimeInterval(1.5)
        let lines = [
            AuditLog.IntentSummary(intentID: 97, portal: "main", kind: "notify.personal", status: "delivered", attempts: 2,
                                   users: [10], entries: 6, lastRecordedAt: at, lastAnswer: Self.story[7]),
            AuditLog.IntentSummary(intentID: 98, portal: "main", kind: "notify.system", status: "pending", attempts: 1,
                                   users: [10], entries: 3, lastRecordedAt: at, lastAnswer: Self.story[2]),
            AuditLog.IntentSummary(intentID: 99, portal: "main", kind: "notify.personal", status: "dead", attempts: 1,
                                   users: [4001], entries: 3, lastRecordedAt: at, lastAnswer: Self.story[5]),
            AuditLog.IntentSummary(intentID: 1000, portal: "main", kind: "chat.create", status: "pending",
                                   users: [1, 10, 12, 13], entries: 1, lastRecordedAt: at),
        ].map(LogTimeline.line)
        #expect(lines == [
            "2026-11-23 17:55:02.500Z  intent 97     notify.personal  user 10        delivered  delivery.succeeded → 101251",
            "2026-11-23 17:55:02.500Z  intent 98     notify.system    user 10        pending    delivery.failed INVALID_RESPONSE",
            "2026-11-23 17:55:02.500Z  intent 99     notify.personal  user 4001      dead       intent.dead RESULT_FALSE",
            "2026-11-23 17:55:02.500Z  intent 1000   chat.create      users 1, 10, 12 and 1 more pending    no answer yet",
        ])
    }

    @Test("data cannot break a line or steer the terminal: control characters show escaped")
    func controlCharactersAreEscaped() {
        let hostile = Self.entry(LogType.intentEnqueued, at: 0, [
            "kind": "notify.personal", "payload": ["USER_ID": 10, "MESSAGE": "line one\nline two\u{1B}[2J\u{202E}"],
        ])
        #expect(LogTimeline.timeline([hostile]) == [
            #"+0.000 s    intent.enqueued       notify.personal to user 10: "line one\nline two\u{1B}[2J\u{202E}""#,
        ])
        let dead = Self.entry(LogType.intentDead, at: 0, ["error": "X\r", "error_description": "tab\there"])
        #expect(LogTimeline.summary(dead) == #"X\r: tab\there"#)
    }

    @Test("plain lines for scripts: seq, time, stream, type, data as JSON, tab-separated")
    func plainLines() {
        #expect(LogTimeline.plain(Self.story[3])
            == "2500\t2026-11-23T17:55:03.500\tintent-97\tintent.released\t{\"reason\":\"the portal's method is paused\"}")
    }
}
