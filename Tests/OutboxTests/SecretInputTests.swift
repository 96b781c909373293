import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Secrets from a file, standard input or the environment")
struct SecretInputTests {
    static func file(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("b24o-secret-\(UUID().uuidString)").path
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("@FILE, - and env:NAME give the value, trimmed; anything else is the value itself")
    func sources() throws {
        let path = try Self.file("from-a-file\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var input = SecretInput(environment: ["B24_SECRET": " from-env "], standardInput: { Data("from-stdin\n".utf8) })
        #expect(try input.read("@\(path)", option: "--token") == "from-a-file")
        #expect(try input.read("env:B24_SECRET", option: "--token") == "from-env")
        #expect(try input.read("-", option: "--token") == "from-stdin")
        #expect(try input.read("literal", option: "--token") == "literal")
        #expect(try input.read(nil, option: "--token") == nil)
    }

    @Test("a missing file, an unset variable, an empty value, a second '-' and an oversized file are clear errors that show no contents")
    func errors() throws {
        let empty = try Self.file(" \n")
        let big = try Self.file("big-secret-" + String(repeating: "x", count: SecretInput.maximumBytes))
        let twoLines = try Self.file("line-one-secret\nline-two-secret\n")
        defer { for path in [empty, big, twoLines] { try? FileManager.default.removeItem(atPath: path) } }
        var input = SecretInput(environment: [:], standardInput: { Data("stdin-secret".utf8) })
        func message(_ argument: String, _ option: String = "--token") -> String {
            do { _ = try input.read(argument, option: option); return "no error" } catch { return "\(error)" }
        }
        #expect(message("@/nonexistent/b24o") == "--token: cannot read the file /nonexistent/b24o")
        #expect(message("@") == "--token: @ needs a file path")
        #expect(message("env:B24_UNSET") == "--token: the environment variable B24_UNSET is not set")
        #expect(message("@\(empty)") == "--token: the file \(empty) is empty")
        #expect(message("@\(big)") == "--token: the file \(big) holds more than 65536 bytes")
        #expect(message("@\(twoLines)") == "--token: the file \(twoLines) holds more than one line")
        #expect(message("-", "--token") == "no error")
        #expect(message("-", "--refresh-token") == "--refresh-token: standard input is already read for --token; give this one as @FILE or env:NAME")
        for secret in ["big-secret", "line-one-secret", "stdin-secret"] {
            #expect(!message("@\(big)").contains(secret) && !message("@\(twoLines)").contains(secret))
        }
    }

    @Test("portal add reads every secret off the command line, and a bad source writes nothing",
          .enabled(if: TestEnvironment.hasDatabase))
    func portalAdd() async throws {
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        let url = ["--database-url", scratch.conninfo]
        let secrets = ["file-access-token-1234", "stdin-refresh-token-5678", "env-client-secret-9012", "file-app-token-3456",
                       "webhookcodefromfile77"]
        #expect(try await CLI.runDetached(["migrate"] + url).status == 0)
        let token = try Self.file(secrets[0] + "\n"), app = try Self.file(secrets[3]),
            webhook = try Self.file("https://hook.bitrix24.com/rest/1/\(secrets[4])/\n")
        defer { for path in [token, app, webhook] { try? FileManager.default.removeItem(atPath: path) } }

        let added = try await CLI.runDetached(
            ["portal", "add", "oauth", "--url", "https://oauth.bitrix24.com", "--token", "@\(token)", "--refresh-token", "-",
             "--client-id", "local.1", "--client-secret", "env:B24O_TEST_CLIENT_SECRET", "--app-token", "@\(app)"] + url,
            environment: ["B24O_TEST_CLIENT_SECRET": secrets[2]], input: secrets[1] + "\n", extraSecrets: secrets)
        #expect(added.status == 0, "\(added.stderr)")
        let hook = try await CLI.runDetached(["portal", "add", "hook", "--url", "@\(webhook)"] + url, extraSecrets: secrets)
        #expect(hook.status == 0, "\(hook.stderr)")
        let row = try db.query("""
            SELECT access_token, refresh_token, client_secret, application_token FROM outbox.portals WHERE name = 'oauth'
            """).first!
        #expect(try [row.decode(0), row.decode(1), row.decode(2), row.decode(3)] == Array(secrets[0...3]))
        #expect(try db.query("SELECT webhook_code FROM outbox.portals WHERE name = 'hook'").first!.decode(0, as: String.self) == secrets[4])

        for (arguments, environment, expected) in [
            (["--url", "@/nonexistent/url"], [String: String](), "--url: cannot read the file /nonexistent/url"),
            (["--url", "https://x.bitrix24.com", "--token", "env:B24O_UNSET_TOKEN"], [:], "--token: the environment variable B24O_UNSET_TOKEN is not set"),
            (["--url", "https://x.bitrix24.com", "--token", "-", "--refresh-token", "-"], [:], "--refresh-token: standard input is already read for --token"),
        ] {
            let refused = try await CLI.runDetached(["portal", "add", "refused"] + arguments + url, environment: environment, input: "stdin-value-1",
                                      extraSecrets: secrets + ["stdin-value-1"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains(expected), "\(refused.stderr)")
        }
        #expect(try db.query("SELECT count(*) FROM outbox.portals WHERE name = 'refused'").first!.decode(0, as: Int.self) == 0)
        TestSecrets.expectAbsent(secrets, in: try TestSecrets.databaseText(on: db), "the database outside outbox.portals")
    }
}
