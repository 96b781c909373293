import Bitrix24Wire
import Foundation
import Testing

@testable import Bitrix24

@Suite struct BatchTests {
    static let attach: JSONValue = [
        "COLOR": "#29619b",
        "BLOCKS": [
            ["MESSAGE": "hi [b]there[/b]"],
            ["LINK": ["LINK": "https://example.com/doc?a=1&b=2", "NAME": "Doc ~1"]],
            ["GRID": [["DISPLAY": "LINE", "NAME": "Total", "VALUE": 42]]],
        ],
    ]

    @Test func notifyCommandMatchesPHPHttpBuildQuery() {
        let command = BatchCommand.notifyPersonal(
            key: "n1", NotificationFields(userID: 10, message: "Hi there & welcome", tag: "t1", attach: Self.attach))
        // What PHP's http_build_query writes for the same array with keys in sorted order:
        // brackets as %5B/%5D, spaces as '+', '~' as %7E, every nested key in brackets.
        let expected =
            "im.notify.personal.add?"
            + "ATTACH%5BBLOCKS%5D%5B0%5D%5BMESSAGE%5D=hi+%5Bb%5Dthere%5B%2Fb%5D"
            + "&ATTACH%5BBLOCKS%5D%5B1%5D%5BLINK%5D%5BLINK%5D=https%3A%2F%2Fexample.com%2Fdoc%3Fa%3D1%26b%3D2"
            + "&ATTACH%5BBLOCKS%5D%5B1%5D%5BLINK%5D%5BNAME%5D=Doc+%7E1"
            + "&ATTACH%5BBLOCKS%5D%5B2%5D%5BGRID%5D%5B0%5D%5BDISPLAY%5D=LINE"
            + "&ATTACH%5BBLOCKS%5D%5B2%5D%5BGRID%5D%5B0%5D%5BNAME%5D=Total"
            + "&ATTACH%5BBLOCKS%5D%5B2%5D%5BGRID%5D%5B0%5D%5BVALUE%5D=42"
            + "&ATTACH%5BCOLOR%5D=%2329619b"
            + "&MESSAGE=Hi+there+%26+welcome"
            + "&TAG=t1"
            + "&USER_ID=10"
        #expect(command.query == expected)
        #expect(command.resultFalseIsFailure)
    }

    @Test func chatCommandEncodesUsersAsAnIndexedArray() {
        let command = BatchCommand.chatAdd(
            key: "c1",
            ChatFields(type: .open, title: "Заказ №5", color: .green, users: [1, 10], entityType: "ORDER", entityID: "5"))
        #expect(
            command.query
                == "im.chat.add?COLOR=GREEN&ENTITY_ID=5&ENTITY_TYPE=ORDER"
                + "&TITLE=%D0%97%D0%B0%D0%BA%D0%B0%D0%B7+%E2%84%965&TYPE=OPEN&USERS%5B0%5D=1&USERS%5B1%5D=10")
        #expect(!command.resultFalseIsFailure)
    }

    @Test func commandsReadBackFromTheirQuery() throws {
        let command = BatchCommand.notifyPersonal(
            key: "n1", NotificationFields(userID: 10, message: "Hi there & welcome", tag: "t1", attach: Self.attach))
        let parsed = try BatchCommand(key: "n1", query: command.query)
        #expect(parsed.method == "im.notify.personal.add")
        #expect(parsed.params["USER_ID"] == "10")
        #expect(parsed.params["MESSAGE"] == "Hi there & welcome")
        #expect(parsed.params["ATTACH"]?["BLOCKS"]?[1]?["LINK"]?["LINK"] == "https://example.com/doc?a=1&b=2")
        #expect(parsed.params["ATTACH"]?["BLOCKS"]?[2]?["GRID"]?[0]?["VALUE"] == "42")
        #expect(try BatchCommand(key: "k", query: "profile").params.isEmpty)
        #expect(throws: PHPForm.DecodingError.self) { try BatchCommand(key: "k", query: "../x?a=1") }
    }

    @Test func bodyKeepsCommandOrderAndIsValidJSON() throws {
        let commands = [
            BatchCommand.notifySystem(key: "z", NotificationFields(userID: 1, message: "a \"quoted\"\nline\u{1}")),
            BatchCommand.chatGet(key: "a", entityType: "ORDER", entityID: "5"),
        ]
        let body = String(decoding: Bitrix24Client.batchBody(commands, halt: true, auth: "tok\"en"), as: UTF8.self)
        #expect(body.hasPrefix(#"{"halt":1,"cmd":{"z":"im.notify.system.add?MESSAGE=a+%22quoted%22%0Aline%01&USER_ID=1","a":"#))
        let json = try JSONValue(jsonData: Array(body.utf8))
        #expect(json["halt"] == .int(1))
        #expect(json["auth"] == .string("tok\"en"))
        #expect(json["cmd"]?["a"] == .string("im.chat.get?ENTITY_ID=5&ENTITY_TYPE=ORDER"))
        #expect(JSONValue.string("é\u{7F}\t\\").jsonString == "\"é\u{7F}\\t\\\\\"")
        #expect(JSONValue.string("\u{1F}").jsonString == "\"\\u001f\"")
    }

    @Test func moreThanFiftyCommandsAreRefusedBeforeSending() async throws {
        let transport = FakeTransport { _ in jsonResponse(#"{"result":{"result":[]}}"#) }
        let client = Bitrix24Client(credentials: try .webhook("https://p.bitrix24.com/rest/1/abcdef123/"), transport: transport)
        let commands = (0...50).map { BatchCommand(key: "k\($0)", method: "im.notify.system.add", params: ["USER_ID": 1, "MESSAGE": "m"]) }
        await #expect(throws: Bitrix24Error.self) { _ = try await client.batch(commands) }
        do throws(Bitrix24Error) {
            _ = try await client.batch(commands)
        } catch {
            #expect(error.code == .batchLengthExceeded)
            #expect(error.failureClass == .permanent)
        }
        #expect(await transport.log.count == 0)
        // Exactly 50 is fine.
        _ = try await client.batch(Array(commands.prefix(50)))
        #expect(await transport.log.count == 1)
    }

    @Test func invalidBatchesAreRefused() {
        func refused(_ commands: [BatchCommand]) -> Bool {
            do throws(Bitrix24Error) { try Bitrix24Client.validateBatch(commands) } catch { return error.code == .invalidArgument }
            return false
        }
        #expect(refused([]))
        #expect(refused([BatchCommand(key: "a", method: "x"), BatchCommand(key: "a", method: "y")]))
        #expect(refused([BatchCommand(key: "", method: "x")]))
        #expect(refused([BatchCommand(key: "a", method: "im.chat.add/../../x")]))
    }

    static let commands = [
        BatchCommand.notifyPersonal(key: "n1", NotificationFields(userID: 1, message: "a")),
        BatchCommand.notifyPersonal(key: "n2", NotificationFields(userID: 2, message: "b")),
        BatchCommand.chatGet(key: "g", entityType: "T", entityID: "1"),
    ]

    func outcomes(_ json: String) throws -> [String: BatchOutcome] {
        BatchResponse.outcomes(of: try JSONValue(jsonData: Array(json.utf8)), commands: Self.commands)
    }

    @Test(arguments: ["[]", "{}"])
    func emptyPartsAsListOrObject(empty: String) throws {
        let result = try outcomes(
            #"{"result":{"n1":101,"n2":102,"g":null},"result_error":\#(empty),"result_total":\#(empty),"result_next":\#(empty),"result_time":{"n1":{"start":1,"finish":2,"duration":1}}}"#)
        #expect(result["n1"] == .success(.int(101), Bitrix24Time(json: ["start": 1, "finish": 2, "duration": 1])))
        #expect(result["n2"] == .success(.int(102), nil))
        #expect(result["g"] == .success(.null, nil))
    }

    @Test func haltedBatchLeavesLaterCommandsNotExecuted() throws {
        let result = try outcomes(
            #"{"result":[],"result_error":{"n1":{"error":"USER_ID_EMPTY","error_description":"User ID can't be empty"}},"result_time":[]}"#)
        guard case .failure(let error)? = result["n1"] else {
            Issue.record("n1 should have failed")
            return
        }
        #expect(error.code == .userIDEmpty)
        #expect(error.failureClass == .permanent)
        #expect(error.method == "im.notify.personal.add")
        #expect(result["n2"] == .notExecuted)
        #expect(result["g"] == .notExecuted)
    }

    @Test func resultFalseFailsOnlyNotifications() throws {
        let result = try outcomes(#"{"result":{"n1":false,"n2":55,"g":false},"result_error":[]}"#)
        guard case .failure(let error)? = result["n1"] else {
            Issue.record("false from a notification is a failure")
            return
        }
        #expect(error.code == .resultFalse)
        #expect(error.failureClass == .permanent)
        #expect(result["n2"] == .success(.int(55), nil))
        #expect(result["g"] == .success(.bool(false), nil))
    }

    @Test func numericKeysMayComeBackAsAList() {
        let commands = [BatchCommand(key: "0", method: "a"), BatchCommand(key: "1", method: "b")]
        let outcomes = BatchResponse.outcomes(of: ["result": [7, 8], "result_error": []], commands: commands)
        #expect(outcomes["0"] == .success(.int(7), nil))
        #expect(outcomes["1"] == .success(.int(8), nil))
    }

    @Test func batchThroughTheClient() async throws {
        let transport = FakeTransport { request in
            jsonResponse(
                #"{"result":{"result":{"n1":5,"g":{"ID":9}},"result_error":{"n2":{"error":"ATTACH_OVERSIZE","error_description":"too big"}},"result_time":[],"result_total":[],"result_next":[]},"time":{"start":1,"finish":2,"duration":1}}"#)
        }
        let client = Bitrix24Client(
            credentials: try .oauth(portal: URL(string: "https://p.bitrix24.com")!, accessToken: "access-123"), transport: transport)
        let response = try await client.batch(Self.commands, halt: false)
        #expect(response.keys == ["n1", "n2", "g"])
        #expect(response["n1"] == .success(.int(5), nil))
        if case .success(let value, _)? = response["g"] {
            #expect(try Bitrix24Client.chatID(inChatGetResult: value) == 9)
        } else {
            Issue.record("g should succeed")
        }
        if case .failure(let error)? = response["n2"] { #expect(error.code == .attachOversize) } else { Issue.record("n2 should fail") }
        #expect(response.time?.duration == 1)
        let request = try #require(await transport.log.requests.first)
        #expect(request.url.absoluteString == "https://p.bitrix24.com/rest/batch")
        #expect(request.bodyJSON?["auth"] == "access-123")
        #expect(request.bodyJSON?["halt"] == 0)
        #expect(request.bodyJSON?["cmd"]?["n1"] == "im.notify.personal.add?MESSAGE=a&USER_ID=1")
    }

    @Test func commandErrorsAreScrubbedOfSecrets() async throws {
        let code = "batchsecret12345"
        let transport = FakeTransport { _ in
            jsonResponse(#"{"result":{"result":[],"result_error":{"a":{"error":"ACCESS_DENIED","error_description":"hook \#(code) denied"}}}}"#)
        }
        let client = Bitrix24Client(credentials: try .webhook("https://p.bitrix24.com/rest/1/\(code)/"), transport: transport)
        let response = try await client.batch([BatchCommand(key: "a", method: "im.notify.delete", params: ["ID": 1])])
        guard case .failure(let error)? = response["a"] else {
            Issue.record("a should fail")
            return
        }
        #expect(error.errorDescription == "hook *** denied")
        #expect(error.failureClass == .permanent)
    }
}
