import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Outbox

/// What the demo enqueues: a day's worth of what a shop, a CRM and a CI server tell their
/// Bitrix24 users. Deterministic, so two runs send the same texts to the same users.
struct DemoMix {
    var portal: String
    /// Notifications in all, those to unknown users included.
    var notifications = 1000
    var chats = 20
    /// Notifications addressed to users the portal does not have (they end up dead).
    var unknownUsers = 5
    var seed: UInt64 = 7

    /// Users that exist on the simulated portal.
    static let knownUsers: ClosedRange<Int64> = 1...1000
    /// Ids of new hires whose accounts do not exist yet.
    var unknownUserIDs: [Int64] { (0..<Int64(unknownUsers)).map { 4001 + $0 } }

    func intents() -> [NewIntent] {
        var random = SeededGenerator(seed: seed)
        var intents: [NewIntent] = []
        for index in 0..<(notifications - unknownUsers) {
            let user = Int64.random(in: 2...Self.knownUsers.upperBound, using: &random)
            intents.append(notification(index, user: user, random: &random))
        }
        for (index, user) in unknownUserIDs.enumerated() {
            intents.append(.notification(
                portal: portal, user: user,
                message: "Welcome aboard! Your onboarding plan and first-week schedule are ready.",
                attach: Self.onboardingPlan(user: user),
                key: "onboarding-welcome-\(user)-\(index)"))
        }
        for index in 0..<chats {
            let deal = 20_400 + index
            let members = (0..<3).map { _ in JSONValue.int(Int64.random(in: Self.knownUsers, using: &random)) }
            let fields: [String: JSONValue] = [
                "TYPE": .string(index % 4 == 0 ? "OPEN" : "CHAT"),
                "TITLE": .string("Deal \(deal): \(Self.companies[index % Self.companies.count]) renewal"),
                "DESCRIPTION": "Deal team: pricing, legal review and the signing date.",
                "COLOR": .string(Self.colors[index % Self.colors.count]),
                "MESSAGE": "The deal reached Negotiation. Please agree on the discount by Friday.",
                "USERS": .array(members),
            ]
            intents.append(.chat(portal: portal, fields: fields, key: "deal-\(deal)-team"))
        }
        return intents
    }

    /// One notification; every fifth carries an attachment, some come from the system.
    private func notification(_ index: Int, user: Int64, random: inout SeededGenerator) -> NewIntent {
        let number = 10_000 + index
        let company = Self.companies[Int.random(in: 0..<Self.companies.count, using: &random)]
        let (message, key, attach, system) = Self.template(index, number: number, user: user, company: company)
        return .notification(
            portal: portal, user: user, message: message, attach: index % 5 == 0 ? attach : nil, system: system, key: key)
    }

    /// Text, idempotency key, an attachment that fits the text, and whether the system sends it.
    private static func template(
        _ index: Int, number: Int, user: Int64, company: String
    ) -> (message: String, key: String, attach: JSONValue?, system: Bool) {
        switch index % 8 {
        case 0, 4:
            let carrier = ["DHL", "UPS", "FedEx"][index % 3]
            let grid: JSONValue = [
                ["DISPLAY": "LINE", "NAME": "Items", "VALUE": .string("\(index % 7 + 1)")],
                ["DISPLAY": "LINE", "NAME": "Carrier", "VALUE": .string(carrier)],
            ]
            let link: JSONValue = ["NAME": "Track the parcel", "LINK": .string("https://shop.example.com/orders/\(number)/tracking")]
            let attach: JSONValue = [
                "ID": 1, "COLOR_TOKEN": "primary",
                "BLOCKS": [["MESSAGE": .string("[B]Order #\(number)[/B]")], ["GRID": grid], ["LINK": link]],
            ]
            return ("Order #\(number) for \(company) has shipped with \(carrier).", "order-\(number)-shipped", attach, false)
        case 1:
            let days = index % 14 + 1
            let grid: JSONValue = [
                ["DISPLAY": "BLOCK", "NAME": "Amount", "VALUE": .string("\(1_200 + index * 7 % 9_000).00 EUR")],
                ["DISPLAY": "BLOCK", "NAME": "Overdue", "VALUE": .string("\(days) days")],
            ]
            let file: JSONValue = [
                "NAME": .string("INV-2026-\(number).pdf"), "LINK": .string("https://erp.example.com/invoices/\(number).pdf"),
                "SIZE": 48_213,
            ]
            return ("Invoice INV-2026-\(number) from \(company) is \(days) days overdue.", "invoice-\(number)-overdue",
                    [["GRID": grid], ["FILE": [file]]], false)
        case 2:
            let stage = ["Qualification", "Proposal", "Negotiation", "Won"][index % 4]
            let link: JSONValue = ["NAME": .string("\(company) renewal"), "LINK": .string("https://crm.example.com/deals/\(number)")]
            let attach: JSONValue = [
                ["USER": ["NAME": "Maria Keller", "LINK": "https://crm.example.com/users/17"]],
                ["DELIMITER": ["SIZE": 200, "COLOR": "#c2c7cc"]],
                ["LINK": link],
            ]
            return ("Deal \"\(company) renewal\" moved to \(stage).", "deal-\(number)-stage-\(stage.lowercased())", attach, false)
        case 3:
            let file: JSONValue = ["NAME": "build.log", "LINK": .string("https://ci.example.com/builds/\(number)/log")]
            let attach: JSONValue = [
                "COLOR_TOKEN": "alert", "BLOCKS": [["MESSAGE": "InvoiceRoundingTests, VATTests, RefundTests"], ["FILE": [file]]],
            ]
            return ("Build \(number) of billing-service failed on main: 3 tests failed.", "build-\(number)-failed", attach, true)
        case 5:
            return ("New lead from the website: \(company) asks for a demo next week.", "lead-\(number)-created", nil, false)
        case 6:
            return ("Your password expires in \(index % 10 + 1) days. Change it in your profile.",
                    "password-expiry-\(user)-\(number)", nil, true)
        default:
            let image: JSONValue = ["NAME": "Agenda", "LINK": "https://intranet.example.com/agenda.png"]
            return ("Meeting \"Quarterly review with \(company)\" starts in 15 minutes.", "meeting-\(number)-reminder",
                    [["IMAGE": [image]]], false)
        }
    }

    private static func onboardingPlan(user: Int64) -> JSONValue {
        let link: JSONValue = ["NAME": "Onboarding plan", "LINK": .string("https://intranet.example.com/onboarding/\(user)")]
        return ["BLOCKS": [["LINK": link]]]
    }

    static let companies = [
        "Acme Corp", "Globex", "Initech", "Umbrella Logistics", "Stark Industries", "Wayne Enterprises",
        "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Nordlicht GmbH", "Costa Verde SA",
    ]
    static let colors = ["RED", "GREEN", "MINT", "LIGHT_BLUE", "DARK_BLUE", "PURPLE", "AQUA", "PINK", "LIME", "AZURE"]
}
