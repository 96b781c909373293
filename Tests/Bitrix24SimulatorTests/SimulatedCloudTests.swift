import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

@Suite("many portals in one process")
struct SimulatedCloudTests {
    @Test("portals get loopback addresses of their own from 127.0.0.2, never ending in .0, .1 or .255")
    func addresses() {
        #expect(SimulatedCloud.address(of: 0) == "127.0.0.2")
        #expect(SimulatedCloud.address(of: 252) == "127.0.0.254")
        #expect(SimulatedCloud.address(of: 253) == "127.0.1.2")
        let all = (0..<SimulatedCloud.portalLimit).map(SimulatedCloud.address(of:))
        #expect(Set(all).count == all.count)
        #expect(all.allSatisfy { address in
            let last = Int(address.split(separator: ".").last!)!
            return (2...254).contains(last)
        })
    }

    @Test("each portal has its own address, secrets, bucket and stores")
    func portalsAreSeparate() async throws {
        var base = Simulator.Configuration()
        base.rateLimit = .init(capacity: 2, drainPerSecond: 0.01)
        let cloud = try await SimulatedCloud.start(portals: 3, base)
        defer { Task { await cloud.stop() } }
        let access = cloud.access
        #expect(access.map(\.name) == ["portal-1", "portal-2", "portal-3"])
        #expect(access.map { URL(string: $0.baseURL)!.host! } == ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        for key in [\SimulatedCloud.PortalAccess.memberID, \.applicationToken, \.clientSecret, \.accessToken, \.refreshToken, \.domain] {
            #expect(Set(access.map { $0[keyPath: key] }).count == 3, "\(key) differs between portals")
        }

        // Portal 1's bucket runs out; portals 2 and 3 still have theirs.
        let notify: JSONValue = ["USER_ID": 1, "MESSAGE": "hello"]
        for _ in 0..<2 { #expect(try await Wire.json(access[0].webhookURL + "im.notify.personal.add", notify).status == 200) }
        let refused = try await Wire.json(access[0].webhookURL + "im.notify.personal.add", notify)
        #expect(refused.status == 503 && refused.error == "QUERY_LIMIT_EXCEEDED")
        #expect(try await Wire.json(access[1].webhookURL + "im.notify.personal.add", notify).status == 200)

        // A portal's webhook code opens no other portal.
        let code = URL(string: access[0].webhookURL)!.path
        let foreign = try await Wire.json(access[2].baseURL + code + "/im.notify.personal.add", notify)
        #expect(foreign.status == 401, "\(foreign.text)")

        let counts = await cloud.portals.asyncMap { await $0.snapshot().notifications.count }
        #expect(counts == [2, 1, 0])
    }

    @Test("a count outside 1 to the limit is refused before any portal starts")
    func countIsChecked() async throws {
        await #expect(throws: SimulatedCloud.CloudError.self) { _ = try await SimulatedCloud.start(portals: 0) }
        await #expect(throws: SimulatedCloud.CloudError.self) {
            _ = try await SimulatedCloud.start(portals: SimulatedCloud.portalLimit + 1)
        }
    }
}

private extension Array where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
