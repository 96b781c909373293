import Bitrix24
import Bitrix24Wire
import Hummingbird
import Logging
import NIOCore
import Outbox
import Postgres

/// `POST /bitrix24/events`: Bitrix24 does not resend an event it failed to deliver, so the answer
/// is 200 only once the event is committed, and anything else is refused before a write.
struct EventEndpoint: Sendable {
    let context: OutboxServer.Context
    let maxBytes: Int
    let limits: PHPForm.Limits

    /// How an event's delivery ended, as answered and counted.
    enum Outcome: String {
        case stored, duplicate, unauthorized, malformed, tooLarge = "too_large", tooManyFields = "too_many_fields"
        case unsupportedMediaType = "unsupported_media_type", unavailable
    }

    private static let mediaTypes: Set<String> = ["application/x-www-form-urlencoded", "application/json"]

    func handle(_ request: Request) async -> Response {
        let mediaType = request.headers[.contentType]
            .flatMap { $0.split(separator: ";").first }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard Self.mediaTypes.contains(mediaType) else {
            return refuse(.unsupportedMediaType, .unsupportedMediaType,
                          "send application/x-www-form-urlencoded (as Bitrix24 does) or application/json")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            return refuse(.contentTooLarge, .tooLarge, "an event body is at most \(maxBytes) bytes")
        }
        let body: ByteBuffer
        do {
            var request = request
            body = try await request.collectBody(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            return refuse(.contentTooLarge, .tooLarge, "an event body is at most \(maxBytes) bytes")
        } catch {
            return refuse(.badRequest, .malformed, "the body could not be read")
        }
        let event: Bitrix24Event
        do {
            event = try Bitrix24Event(body: body.readableBytesView, contentType: mediaType, limits: limits)
        } catch where error.code == .tooManyFields {
            return refuse(.contentTooLarge, .tooManyFields, error.reason)
        } catch {
            return refuse(.badRequest, .malformed, error.description)
        }
        return await store(event)
    }

    /// Verifies the sender (in memory, or against a shared read of the portals) and stores the
    /// event on the event path's own connections.
    private func store(_ event: Bitrix24Event) async -> Response {
        enum Result: Sendable { case unauthorized, stored(EventReceipt, portal: String) }
        let result: Result
        do {
            if let sender = try await context.senders.verifiedSender(of: event.auth) {
                let stored = InboundEvent(pushed: event)
                // Safe to repeat: a second run finds the first one's fingerprint and stores nothing.
                let receipt = try await context.eventDatabase.run(retryOnConnectionLoss: true) { db in
                    try EventStore.record(stored, portalID: sender.portalID, on: db)
                }
                result = .stored(receipt, portal: sender.portalName)
            } else {
                result = .unauthorized
            }
        } catch {
            context.logger.error("an event could not be stored; Bitrix24 will not resend it",
                                 metadata: ["event": "\(event.event)", "error": "\(error)"])
            return refuse(.serviceUnavailable, .unavailable, "the event could not be stored now")
        }
        switch result {
        case .unauthorized:
            context.logger.notice("event refused: unknown portal or wrong application token",
                                  metadata: ["domain": "\(event.auth.domain.map { String($0.prefix(100)) } ?? "-")"])
            return refuse(.unauthorized, .unauthorized, "unknown portal or wrong application token")
        case .stored(let receipt, let portal):
            let outcome: Outcome = receipt.duplicate ? .duplicate : .stored
            context.metrics.inboundEvent(type: OutboxMetrics.eventLabel(event.event), outcome: outcome.rawValue)
            context.logger.debug("event stored", metadata: [
                "event": "\(event.event)", "portal": "\(portal)", "seq": "\(receipt.seq)", "duplicate": "\(receipt.duplicate)",
            ])
            return jsonResponse(.ok, [
                "result": .string(outcome.rawValue), "seq": .int(receipt.seq),
                "linked_intents": .array(receipt.linkedIntents.map(JSONValue.int)),
            ])
        }
    }

    /// Counts and answers a refusal. The sender is not verified, so its event name is no label value.
    private func refuse(_ status: HTTPResponse.Status, _ outcome: Outcome, _ description: String) -> Response {
        context.metrics.inboundEvent(type: "unverified", outcome: outcome.rawValue)
        return jsonResponse(status, ["error": .string(outcome.rawValue.uppercased()), "error_description": .string(description)])
    }
}
