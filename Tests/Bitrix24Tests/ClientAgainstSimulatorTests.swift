import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

/// The real client (AsyncHTTPClient transport) against the real simulator over loopback HTTP:
/// every method the outbox uses, and every way a call can fail, with what the portal did
/// checked in its snapshot.
@Suite("client against the simulator over loopback")
struct ClientAgainstSimulatorTests {
    typealias Harness = SimulatorHarness

    // MARK: Methods

    @Test("im.chat.add stores the chat; im.chat.get finds it by ENTITY_TYPE+ENTITY_ID, nil for an unknown pair")
    func chatAddAndGet() async throws {
        try await Harness.withWebhookClient { sim, client in
            #expect(try await client.chatGet(entityType: "ORDER", entityID: "42") == nil)
            let fields = ChatFields(
                type: .open, title: "Order 42", description: "Delivery questions", color: .mint, message: "Hello",
                users: [2, 3, 999_999], entityType: "ORDER", entityID: "42")
            let id = try await client.chatAdd(fields)

            #expect(try await client.chatGet(entityType: "ORDER", entityID: "42") == id)
            #expect(try await client.chatGet(entityType: "ORDER", entityID: "43") == nil)
            #expect(try await client.chatGet(entityType: "INVOICE", entityID: "42") == nil)

            let state = await sim.snapshot()
            let chat = try #require(state.chats.first)
            #expect(state.chats.count == 1)
            #expect(chat.id == id)
            #expect(chat.type == "OPEN")
            #expect(chat.title == "Order 42")
            #expect(chat.description == "Delivery questions")
            #expect(chat.color == "MINT")
            #expect(chat.message == "Hello")
            #expect(chat.entityType == "ORDER" && chat.entityID == "42")
            // The webhook's user owns it; the unknown user is left out.
            #expect(chat.ownerID == sim.configuration.webhookUserID)
            #expect(chat.users == [1, 2, 3])
            #expect(state.callsByMethod == ["im.chat.add": 1, "im.chat.get": 4])
        }
    }

    @Test("im.notify.personal.add and im.notify.system.add store what was sent, sender and kind included")
    func notifications() async throws {
        try await Harness.withWebhookClient { sim, client in
            let attach: JSONValue = ["COLOR_TOKEN": "primary", "BLOCKS": [["MESSAGE": "Order [b]42[/b]"]]]
            let personal = try await client.notifyPersonal(
                userID: 2, message: "Your order shipped", messageOut: "Order 42 shipped", tag: "order-42",
                subTag: "orders", attach: attach)
            let system = try await client.notifySystem(NotificationFields(userID: 3, message: "Maintenance tonight"))
            #expect(personal != system)

            let state = await sim.snapshot()
            #expect(state.effects.notificationsCreated == 2)
            let first = try #require(state.notifications(for: 2).first)
            #expect(first.id == personal)
            #expect(first.kind == .personal)
            #expect(first.authorID == sim.configuration.webhookUserID)
            #expect(first.message == "Your order shipped")
            #expect(first.messageOut == "Order 42 shipped")
            #expect(first.tag == "order-42" && first.subTag == "orders")
            #expect(first.attach != nil)
            let second = try #require(state.notifications(for: 3).first)
            #expect(second.id == system)
            #expect(second.kind == .system)
            #expect(second.authorID == 0)
            #expect(second.tag == nil)
        }
    }

    @Test("im.notify.delete by id; by tag for every recipient of the application")
    func notifyDelete() async throws {
        try await Harness.withWebhookClient { sim, client in
            let id = try await client.notifySystem(userID: 2, message: "to delete")
            #expect(try await client.notifyDelete(id: id))
            #expect(try await client.notifyDelete(id: id) == false)
            let state = await sim.snapshot()
            #expect(state.notifications.isEmpty)
            #expect(state.effects.notificationsDeleted == 1)
        }
        // Deleting by tag needs an application namespace: OAuth.
        try await Harness.withSimulator { sim in
            try await Harness.withClient(sim.oauthClient()) { client in
                _ = try await client.notifyPersonal(userID: 2, message: "a", tag: "sale")
                _ = try await client.notifyPersonal(userID: 3, message: "b", tag: "sale")
                let kept = try await client.notifyPersonal(userID: 3, message: "c", tag: "other")
                #expect(try await client.notifyDelete(tag: "sale"))
                let state = await sim.snapshot()
                #expect(state.notifications.map(\.id) == [kept])
                #expect(state.effects.notificationsDeleted == 2)
            }
        }
    }

    @Test("TAG: the same tag twice to one user leaves one notification; to two users, two")
    func tagReplacement() async throws {
        try await Harness.withWebhookClient { sim, client in
            let first = try await client.notifyPersonal(userID: 2, message: "Status: packed", tag: "order-7")
            let second = try await client.notifyPersonal(userID: 2, message: "Status: shipped", tag: "order-7")
            #expect(first != second)

            var state = await sim.snapshot()
            #expect(state.effects.notificationsCreated == 2)
            #expect(state.effects.notificationsReplaced == 1)
            #expect(state.notifications(for: 2).map(\.id) == [second])
            #expect(state.notifications(for: 2).map(\.message) == ["Status: shipped"])

            let toThree = try await client.notifySystem(userID: 3, message: "Status: shipped", tag: "order-7")
            state = await sim.snapshot()
            #expect(state.effects.notificationsCreated == 3)
            #expect(state.effects.notificationsReplaced == 1)
            #expect(state.notifications.filter { $0.tag == "order-7" }.map(\.id).sorted() == [second, toThree].sorted())
        }
    }

    @Test("batch: some commands fail, the others succeed, each outcome under its key")
    func batchPartialFailure() async throws {
        try await Harness.withWebhookClient { sim, client in
            let commands: [BatchCommand] = [
                .notifyPersonal(key: "sent", NotificationFields(userID: 2, message: "hi", tag: "b-1")),
                .notifyPersonal(key: "noUser", NotificationFields(userID: 5000, message: "nobody")),
                .notifySystem(key: "empty", NotificationFields(userID: 2, message: " ")),
                .chatAdd(key: "chat", ChatFields(title: "Batch chat", users: [2], entityType: "BATCH", entityID: "1")),
                .chatGet(key: "found", entityType: "BATCH", entityID: "1"),
                .chatGet(key: "absent", entityType: "BATCH", entityID: "2"),
                BatchCommand(key: "unknown", method: "im.no.such.method"),
                .notifySystem(key: "system", NotificationFields(userID: 3, message: "after the failures")),
            ]
            let response = try await client.batch(commands)
            #expect(response.keys == commands.map(\.key))
            #expect(response.httpStatus == 200)

            guard case .success(let sent, _)? = response["sent"] else {
                Issue.record("sent: \(String(describing: response["sent"]))")
                return
            }
            let sentID = try Bitrix24Client.id(in: sent, method: "im.notify.personal.add")

            guard case .failure(let noUser)? = response["noUser"] else {
                Issue.record("noUser: \(String(describing: response["noUser"]))")
                return
            }
            #expect(noUser.code == .resultFalse)
            #expect(noUser.failureClass == .permanent)

            guard case .failure(let empty)? = response["empty"] else {
                Issue.record("empty: \(String(describing: response["empty"]))")
                return
            }
            #expect(empty.code == .messageEmpty)
            #expect(empty.failureClass == .permanent)
            #expect(empty.method == "im.notify.system.add")

            guard case .success(let chat, _)? = response["chat"], case .success(let found, _)? = response["found"],
                case .success(let absent, _)? = response["absent"]
            else {
                Issue.record("chat commands: \(response.outcomes)")
                return
            }
            let chatID = try Bitrix24Client.id(in: chat, method: "im.chat.add")
            #expect(try Bitrix24Client.chatID(inChatGetResult: found) == chatID)
            #expect(try Bitrix24Client.chatID(inChatGetResult: absent) == nil)

            guard case .failure(let unknown)? = response["unknown"] else {
                Issue.record("unknown: \(String(describing: response["unknown"]))")
                return
            }
            #expect(unknown.code == .methodNotFound)
            #expect(unknown.failureClass == .permanent)

            guard case .success(let system, _)? = response["system"] else {
                Issue.record("system: \(String(describing: response["system"]))")
                return
            }
            let systemID = try Bitrix24Client.id(in: system, method: "im.notify.system.add")

            let state = await sim.snapshot()
            #expect(state.requests == 1)
            #expect(state.batches == 1)
            #expect(state.notifications.map(\.id) == [sentID, systemID])
            #expect(state.chats.map(\.id) == [chatID])
            #expect(state.effects.notificationsRefused == 1)
            #expect(state.commandErrors == ["MESSAGE_EMPTY": 1, "ERROR_METHOD_NOT_FOUND": 1])
        }
    }

    @Test("batch with halt: the commands after the first failure are not executed")
    func batchHalt() async throws {
        try await Harness.withWebhookClient { sim, client in
            let response = try await client.batch(
                [
                    .notifySystem(key: "first", NotificationFields(userID: 2, message: "one")),
                    .notifySystem(key: "bad", NotificationFields(userID: 0, message: "no recipient")),
                    .notifySystem(key: "never", NotificationFields(userID: 3, message: "three")),
                ], halt: true)
            guard case .success? = response["first"], case .failure(let bad)? = response["bad"] else {
                Issue.record("\(response.outcomes)")
                return
            }
            #expect(bad.code == .userIDEmpty)
            #expect(response["never"] == .notExecuted)
            let state = await sim.snapshot()
            #expect(state.notifications.map(\.userID) == [2])
        }
    }

    @Test("batch where every command succeeds: empty error part, all outcomes successes")
    func batchAllSucceed() async throws {
        try await Harness.withWebhookClient { sim, client in
            let commands = (0..<Bitrix24Client.maxBatchCommands).map {
                BatchCommand.notifySystem(key: "n\($0)", NotificationFields(userID: Int64(2 + $0), message: "hello \($0)"))
            }
            let response = try await client.batch(commands)
            for key in response.keys {
                guard case .success(let value, let time)? = response[key] else {
                    Issue.record("\(key): \(String(describing: response[key]))")
                    continue
                }
                #expect((value.intValue ?? 0) > 0)
                #expect(time != nil)
            }
            #expect(response.time != nil)
            let state = await sim.snapshot()
            #expect(state.requests == 1)
            #expect(state.notifications.count == Bitrix24Client.maxBatchCommands)
        }
    }

    @Test("batch keyed 0, 1, 2: outcomes by key whether PHP wrote a part as a list or an object")
    func batchNumericKeys() async throws {
        try await Harness.withWebhookClient { sim, client in
            // "0" and "2" succeed: result is {"0":…,"2":…}; only "1" fails: result_error is {"1":…}.
            let mixed = try await client.batch([
                .notifySystem(key: "0", NotificationFields(userID: 2, message: "zero")),
                .notifySystem(key: "1", NotificationFields(userID: 2, message: "")),
                .notifySystem(key: "2", NotificationFields(userID: 3, message: "two")),
            ])
            guard case .success(let zero, _)? = mixed["0"], case .failure(let one)? = mixed["1"],
                case .success(let two, _)? = mixed["2"]
            else {
                Issue.record("\(mixed.outcomes)")
                return
            }
            #expect(one.code == .messageEmpty)
            // All succeed: result is the list [id0, id1], result_error is [].
            let listed = try await client.batch([
                .notifySystem(key: "0", NotificationFields(userID: 4, message: "a")),
                .notifySystem(key: "1", NotificationFields(userID: 5, message: "b")),
            ])
            guard case .success(let a, _)? = listed["0"], case .success(let b, _)? = listed["1"] else {
                Issue.record("\(listed.outcomes)")
                return
            }
            let state = await sim.snapshot()
            #expect(state.notifications.map { JSONValue.int($0.id) } == [zero, two, a, b])
        }
    }

    @Test("generic call: any method, JSON parameters in, result and time block out")
    func genericCall() async throws {
        try await Harness.withWebhookClient { sim, client in
            let time = try await client.call("server.time")
            #expect(time.result.stringValue?.isEmpty == false)
            #expect(time.httpStatus == 200)
            #expect(time.time != nil)

            let added = try await client.call(
                "im.notify.system.add", params: ["USER_ID": 4, "MESSAGE": "generic", "TAG": "g"])
            let id = try Bitrix24Client.id(in: added.result, method: added.method)
            #expect(await sim.snapshot().notifications(for: 4).map(\.id) == [id])

            let unknown = try #require(await bitrix24Error { try await client.call("im.no.such.method") })
            #expect(unknown.code == .methodNotFound)
            #expect(unknown.httpStatus == 404)
            #expect(unknown.failureClass == .permanent)
        }
    }

    // MARK: Limits

    @Test("rate limit: QUERY_LIMIT_EXCEEDED is .rateLimited and nothing ran; a batch counts as one request")
    func rateLimited() async throws {
        try await Harness.withWebhookClient(simulator: {
            // Drains so slowly that no test run lasts long enough to matter.
            $0.rateLimit = .init(capacity: 2, drainPerSecond: 0.001)
        }) { sim, client in
            _ = try await client.batch(
                (0..<10).map { .notifySystem(key: "k\($0)", NotificationFields(userID: 2, message: "m\($0)")) })
            _ = try await client.notifySystem(userID: 3, message: "fits")
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 4, message: "over") })
            #expect(error.code == .queryLimitExceeded)
            #expect(error.failureClass == .rateLimited)
            #expect(error.httpStatus == 503)
            #expect(error.method == "im.notify.system.add")

            let state = await sim.snapshot()
            #expect(state.requests == 3)
            #expect(state.rejected["QUERY_LIMIT_EXCEEDED"] == 1)
            #expect(state.notifications.count == 11)
            #expect(state.notifications(for: 4).isEmpty)
        }
    }

    @Test("operating limit: OPERATION_TIME_LIMIT is .operatingLimit with the reset time; other methods go on")
    func operatingLimit() async throws {
        try await Harness.withWebhookClient(simulator: {
            $0.operatingLimit = .init(budget: 2, window: .seconds(600), costPerCall: 1)
        }) { sim, client in
            _ = try await client.notifySystem(userID: 2, message: "one")
            let second = try await client.call("im.notify.system.add", params: ["USER_ID": 2, "MESSAGE": "two"])
            #expect(second.time?.operating == 2)

            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "three") })
            #expect(error.code == .operationTimeLimit)
            #expect(error.httpStatus == 429)
            guard case .operatingLimit(let resetIn?) = error.failureClass else {
                Issue.record("expected an operating limit with a reset time, got \(error.failureClass)")
                return
            }
            // The budget frees up when the first call leaves the 10-minute window: counted on the
            // portal's clock, from the refused call's finish.
            #expect(resetIn >= .seconds(590))
            #expect(resetIn <= .seconds(600))

            // The budget is per method.
            #expect(try await client.chatGet(entityType: "X", entityID: "1") == nil)
            let state = await sim.snapshot()
            #expect(state.notifications.count == 2)
            #expect(state.rejected["OPERATION_TIME_LIMIT"] == 1)
        }
    }

    // MARK: OAuth tokens

    @Test("an expired token is refreshed once for ten concurrent callers; all ten calls succeed")
    func expiredTokenRefreshedOnce() async throws {
        try await Harness.withSimulator { sim in
            let refreshed = Recorder<OAuthTokens>()
            let client = try sim.oauthClient(onTokensRefreshed: { await refreshed.record($0) })
            try await Harness.withClient(client) { client in
                _ = try await client.notifySystem(userID: 2, message: "with the first token")
                await sim.expireAccessTokens()

                let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                    for i in 0..<10 {
                        group.addTask { try await client.notifySystem(userID: Int64(10 + i), message: "call \(i)") }
                    }
                    var ids: [Int64] = []
                    for try await id in group { ids.append(id) }
                    return ids
                }
                #expect(Set(ids).count == 10)

                let state = await sim.snapshot()
                #expect(state.refreshes == 1)
                #expect(state.refreshErrors.isEmpty)
                #expect((1...10).contains(state.rejected["expired_token", default: 0]))
                #expect(state.notifications.count == 11)

                let current = await sim.currentTokens()
                let pairs = await refreshed.items
                #expect(pairs.count == 1)
                #expect(pairs.first?.accessToken == current.accessToken)
                #expect(pairs.first?.refreshToken == current.refreshToken)
                #expect(current.accessToken != sim.configuration.oauth.accessToken)
                #expect(await client.credentials.accessToken == current.accessToken)
                #expect(await client.credentials.refreshToken == current.refreshToken)
            }
        }
    }

    @Test("invalid_grant: with the refresh token revoked the call fails permanently, and is not retried")
    func invalidGrant() async throws {
        try await Harness.withSimulator { sim in
            let refreshed = Recorder<OAuthTokens>()
            let client = try sim.oauthClient(onTokensRefreshed: { await refreshed.record($0) })
            try await Harness.withClient(client) { client in
                await sim.expireAccessTokens()
                await sim.revokeRefreshTokens()
                let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
                #expect(error.code == .invalidGrant)
                #expect(error.failureClass == .permanent)
                #expect(error.httpStatus == 400)

                // The dead refresh token is not tried again.
                let again = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "y") })
                #expect(again.failureClass == .permanent)

                let state = await sim.snapshot()
                #expect(state.refreshes == 0)
                #expect(state.refreshErrors == ["invalid_grant": 1])
                #expect(state.notifications.isEmpty)
                #expect(await refreshed.items.isEmpty)
                // No secret in what the caller sees.
                let text = String(describing: error) + String(describing: again)
                for secret in [sim.configuration.oauth.refreshToken, sim.configuration.oauth.clientSecret] {
                    #expect(!text.contains(secret))
                }
            }
        }
    }

    @Test("an expired token without the means to refresh it is permanent")
    func expiredTokenWithoutRefresh() async throws {
        try await Harness.withSimulator { sim in
            try await Harness.withClient(sim.oauthClient(refreshable: false)) { client in
                _ = try await client.notifySystem(userID: 2, message: "before expiry")
                await sim.expireAccessTokens()
                let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
                #expect(error.code == .expiredToken)
                #expect(error.httpStatus == 401)
                #expect(error.failureClass == .permanent)
                let state = await sim.snapshot()
                #expect(state.refreshes == 0 && state.refreshErrors.isEmpty)
                #expect(state.notifications.count == 1)
            }
        }
    }

    // MARK: Renamed portal

    @Test("302 from a renamed portal: re-POSTed to the new address, which the client keeps; the effect happens once")
    func renamedPortal() async throws {
        try await Harness.withSimulator { sim in
            let moves = Recorder<URL>()
            let client = try sim.webhookClient(onPortalMoved: { await moves.record($0) })
            try await Harness.withClient(client) { client in
                _ = try await client.notifySystem(userID: 2, message: "before the rename")
                await sim.rename(to: "renamed-portal")

                let response = try await client.call(
                    "im.notify.personal.add", params: ["USER_ID": 3, "MESSAGE": "after the rename"])
                let id = try Bitrix24Client.id(in: response.result, method: response.method)
                let newAddress = try #require(response.portalMovedTo)
                #expect(newAddress.absoluteString == sim.renamedBaseURL.absoluteString)
                #expect(await moves.items == [newAddress])
                #expect(await client.credentials.portal == newAddress)

                var state = await sim.snapshot()
                #expect(state.redirects == 1)
                #expect(state.notifications(for: 3).map(\.id) == [id])
                #expect(state.effects.notificationsCreated == 2)
                #expect(state.callsByMethod["im.notify.personal.add"] == 1)

                // Later calls go straight to the new address.
                let next = try await client.call("im.notify.system.add", params: ["USER_ID": 4, "MESSAGE": "later"])
                #expect(next.portalMovedTo == nil)
                state = await sim.snapshot()
                #expect(state.redirects == 1)
                #expect(state.notifications.count == 3)
                #expect(await moves.items.count == 1)
            }
        }
    }

    @Test("OAuth: renamed portal and expired token in one call: one redirect, one refresh, the effect once")
    func renamedPortalWithExpiredToken() async throws {
        try await Harness.withSimulator { sim in
            let moves = Recorder<URL>()
            let refreshed = Recorder<OAuthTokens>()
            let client = try sim.oauthClient(
                onTokensRefreshed: { await refreshed.record($0) }, onPortalMoved: { await moves.record($0) })
            try await Harness.withClient(client) { client in
                await sim.rename(to: "renamed-portal")
                await sim.expireAccessTokens()
                let id = try await client.notifyPersonal(userID: 2, message: "moved and refreshed")

                let state = await sim.snapshot()
                #expect(state.redirects == 1)
                #expect(state.refreshes == 1)
                #expect(state.notifications.map(\.id) == [id])
                #expect(state.notifications.first?.authorID == sim.configuration.oauth.userID)
                #expect(await moves.items.map(\.absoluteString) == [sim.renamedBaseURL.absoluteString])
                #expect(await refreshed.items.first?.clientEndpoint == sim.renamedBaseURL.absoluteString + "/rest/")
                let credentials = await client.credentials
                #expect(credentials.portal.absoluteString == sim.renamedBaseURL.absoluteString)
                #expect(credentials.accessToken == (await sim.currentTokens()).accessToken)
            }
        }
    }

    // MARK: Faults

    @Test("HTML 502 from the proxy: ambiguous, and indeed nothing was stored")
    func html502() async throws {
        try await Harness.withWebhookClient(simulator: { $0.faults.html502 = 1 }) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.code == .invalidResponse)
            #expect(error.httpStatus == 502)
            #expect(error.failureClass == .ambiguous)
            #expect(error.errorDescription?.contains("text/html") == true)
            let state = await sim.snapshot()
            #expect(state.faults[.html502] == 1)
            #expect(state.notifications.isEmpty)
        }
    }

    @Test("connection dropped after the effect: ambiguous, and the effect was stored")
    func droppedAfterEffect() async throws {
        try await Harness.withWebhookClient(simulator: { $0.faults.dropAfter = 1 }) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.failureClass == .ambiguous)
            #expect(error.code == .connectionClosed)
            #expect(error.httpStatus == nil)
            let state = await sim.snapshot()
            #expect(state.requests == 1)
            #expect(state.faults[.dropAfter] == 1)
            #expect(state.notifications(for: 2).map(\.message) == ["x"])
        }
    }

    @Test("500 before the effect: classified by its code INTERNAL_SERVER_ERROR (ambiguous); nothing stored")
    func failBefore500() async throws {
        try await Harness.withWebhookClient(simulator: { $0.faults.failBefore = 1 }) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.code == .internalServerError)
            #expect(error.httpStatus == 500)
            #expect(error.failureClass == Bitrix24Error.FailureClass.table[.internalServerError])
            #expect(error.failureClass == .ambiguous)
            let state = await sim.snapshot()
            #expect(state.faults[.failBefore] == 1)
            #expect(state.notifications.isEmpty)
        }
    }

    @Test("500 after the effect: the same answer, but the effect was stored")
    func failAfter500() async throws {
        try await Harness.withWebhookClient(simulator: { $0.faults.failAfter = 1 }) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.code == .internalServerError)
            #expect(error.failureClass == .ambiguous)
            let state = await sim.snapshot()
            #expect(state.faults[.failAfter] == 1)
            #expect(state.notifications.count == 1)
        }
    }

    @Test("connection closed before the effect: ambiguous to the client, nothing stored")
    func closedBeforeEffect() async throws {
        try await Harness.withWebhookClient(simulator: {
            $0.faults.failBefore = 1
            $0.faults.beforeEffectStyle = .closeConnection
        }) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.failureClass == .ambiguous)
            #expect(await sim.snapshot().notifications.isEmpty)
        }
    }

    @Test("a response slower than the client's requestTimeout: ambiguous timeout; the effect was stored")
    func slowResponse() async throws {
        try await Harness.withWebhookClient(
            simulator: {
                $0.faults.slow = 1
                $0.faults.slowDelay = .seconds(120)
            },
            client: { $0.requestTimeout = .seconds(3) }
        ) { sim, client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "slow") })
            #expect(error.code == .timeout)
            #expect(error.failureClass == .ambiguous)
            let state = try await sim.snapshot(waitingUpTo: .seconds(30)) { !$0.notifications.isEmpty }
            #expect(state.faults[.slow] == 1)
            #expect(state.notifications.map(\.message) == ["slow"])
        }
    }

    @Test("connection refused (nothing listens on the port): not executed")
    func connectionRefused() async throws {
        // A port bound but never listened on refuses connections, and while it stays bound no
        // other test's server can take it (a stopped server's port could be reused at once).
        let closed = try ClosedPort()
        defer { closed.release() }
        let url = URL(string: "http://127.0.0.1:\(closed.port)/rest/1/stoppedportal0000/")!
        let client = Bitrix24Client(credentials: try .webhook(url, allowInsecureHTTP: true))
        try await Harness.withClient(client) { client in
            let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
            #expect(error.code == .connectionFailed)
            #expect(error.failureClass == .notExecuted)
            #expect(error.httpStatus == nil)
        }
    }

    // MARK: Permanent failures

    @Test("wrong webhook code: INVALID_CREDENTIALS, permanent, nothing ran, the code is not echoed")
    func wrongWebhookCode() async throws {
        try await Harness.withSimulator { sim in
            let wrong = sim.baseURL.appendingPathComponent("rest/1/wrongcode12345/")
            try await Harness.withClient(sim.webhookClient(url: wrong)) { client in
                let error = try #require(await bitrix24Error { try await client.notifySystem(userID: 2, message: "x") })
                #expect(error.code == .invalidCredentials)
                #expect(error.httpStatus == 401)
                #expect(error.failureClass == .permanent)
                #expect(!String(describing: error).contains("wrongcode12345"))
                let state = await sim.snapshot()
                #expect(state.rejected["INVALID_CREDENTIALS"] == 1)
                #expect(state.calls == 0)
            }
        }
    }

    @Test("result:false for an unknown or inactive user: permanent")
    func resultFalse() async throws {
        try await Harness.withWebhookClient(simulator: { $0.users = UserSet(1...100) }) { sim, client in
            let unknown = try #require(await bitrix24Error { try await client.notifyPersonal(userID: 5000, message: "x") })
            #expect(unknown.code == .resultFalse)
            #expect(unknown.httpStatus == 200)
            #expect(unknown.failureClass == .permanent)
            #expect(unknown.method == "im.notify.personal.add")

            await sim.setUser(7, active: false)
            let inactive = try #require(await bitrix24Error { try await client.notifySystem(userID: 7, message: "x") })
            #expect(inactive.code == .resultFalse)
            #expect(inactive.failureClass == .permanent)

            let state = await sim.snapshot()
            #expect(state.effects.notificationsRefused == 2)
            #expect(state.notifications.isEmpty)
        }
    }
}
