import ArgumentParser
import Bitrix24
import Foundation
import Outbox

struct PortalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal",
        abstract: "Add, list and remove Bitrix24 portals, store a new OAuth token pair, pause and resume delivery.",
        subcommands: [Add.self, List.self, Remove.self, SetTokens.self, Pause.self, Resume.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a portal: a webhook URL, or a portal address with OAuth tokens.",
            discussion: """
                Webhook:  b24outbox portal add main --url https://example.bitrix24.com/rest/1/CODE/
                OAuth:    b24outbox portal add main --url https://example.bitrix24.com --token ACCESS \\
                              --refresh-token REFRESH --client-id ID --client-secret SECRET --app-token APP
                Secrets are stored in outbox.portals only and never printed. Keep them off the
                command line (ps and shell history show it): --url, --token, --refresh-token,
                --client-secret and --app-token each take @FILE (read a file), - (read standard
                input, one option per run) or env:NAME (read an environment variable):
                          b24outbox portal add main --url @/run/secrets/webhook-url
                          printf %s "$TOKEN" | b24outbox portal add main --url https://example.bitrix24.com --token - \\
                              --refresh-token env:B24_REFRESH --client-id ID --client-secret @client-secret
                """)

        @Argument(help: "Portal name (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "Incoming-webhook URL, or the portal address when --token is given (or @FILE, -, env:NAME).") var url: String
        @Option(help: "OAuth access token (or @FILE, -, env:NAME).") var token: String?
        @Option(help: "OAuth refresh token (or @FILE, -, env:NAME).") var refreshToken: String?
        @Option(help: "Seconds the access token has left (Bitrix24's expires_in): refreshed ahead of that.") var tokenExpiresIn: Int?
        @Option(help: "OAuth application client id.") var clientId: String?
        @Option(help: "OAuth application client secret (or @FILE, -, env:NAME).") var clientSecret: String?
        @Option(help: "Application token that inbound events must carry (auth[application_token]; or @FILE, -, env:NAME).") var appToken: String?
        @Option(help: "The portal's member id (identifies inbound events).") var memberId: String?
        @Option(help: "The portal's domain (default: the URL's host).") var domain: String?
        @Option(help: "Bitrix24 request bucket size (50; 250 on Enterprise).") var rateBucket = 50
        @Option(help: "Bitrix24 bucket drain, requests per second (2; 5 on Enterprise).") var rateDrain = 2.0
        @Option(help: "OAuth token endpoint (default: Bitrix24's oauth.bitrix.info).") var tokenUrl: String?
        @Flag(help: "Allow an http:// address (a local simulator; never a real portal).") var allowHttp = false
        @Flag(help: "Print the new portal as JSON.") var json = false
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            var secrets = SecretInput()
            let url: String, token: String?, refreshToken: String?, clientSecret: String?, appToken: String?
            do {
                url = try secrets.read(self.url, option: "--url")!
                token = try secrets.read(self.token, option: "--token")
                refreshToken = try secrets.read(self.refreshToken, option: "--refresh-token")
                clientSecret = try secrets.read(self.clientSecret, option: "--client-secret")
                appToken = try secrets.read(self.appToken, option: "--app-token")
            } catch let error as SecretInputError {
                throw ValidationError(error.description)
            }
            guard let address = URL(string: url) else { throw ValidationError("--url is not a URL") }
            let credentials: Bitrix24Credentials
            do {
                if let token {
                    credentials = try .oauth(
                        portal: address, accessToken: token, refreshToken: refreshToken, clientID: clientId,
                        clientSecret: clientSecret, accessTokenExpiresAt: try tokenExpiry(tokenExpiresIn),
                        allowInsecureHTTP: allowHttp)
                } else {
                    guard refreshToken == nil, clientId == nil, clientSecret == nil, tokenExpiresIn == nil else {
                        throw ValidationError("--refresh-token, --client-id, --client-secret and --token-expires-in need --token")
                    }
                    credentials = try .webhook(address, allowInsecureHTTP: allowHttp)
                }
            } catch let error as Bitrix24Credentials.ParseError {
                throw ValidationError("\(error.reason). Use --allow-http only for a local simulator.")
            }
            try requireRange(rateBucket, PortalRegistration.rateBuckets, "--rate-bucket", unit: " requests")
            try requireRange(rateDrain, PortalRegistration.rateDrains, "--rate-drain", unit: " requests per second")
            let endpoint = try tokenUrl.map { text -> URL in
                guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? "") else {
                    throw ValidationError("--token-url is not an http(s) URL")
                }
                return url
            }
            let registration = PortalRegistration(
                name: name, credentials: credentials, applicationToken: appToken, memberID: memberId, domain: domain,
                rateBucket: rateBucket, rateDrain: rateDrain, tokenEndpoint: endpoint)
            let portal = try CLIError.explaining { try PortalStore.add(registration, on: try database.connect()) }
            if json { try printJSON(portal) } else { print("added portal \(portal.name) (\(portal.authKind), \(portal.baseURL))") }
        }
    }

    struct SetTokens: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-tokens",
            abstract: "Store a new OAuth token pair for a portal (after authorising the application again).",
            discussion: """
                When a portal's refresh token is refused or lost (the log has portal.token_refresh_refused
                or portal.tokens_lost), open the application on the portal again and store the pair it
                got; refreshes then start over from it, in every process, without a restart:
                          b24outbox portal set-tokens main --token env:B24_ACCESS --refresh-token @refresh-token \\
                              --token-expires-in 3600
                Both tokens take @FILE, - (standard input, one of them) or env:NAME; neither is printed.
                """)

        @Argument(help: "Portal name.") var name: String
        @Option(help: "OAuth access token (@FILE, -, env:NAME).") var token: String
        @Option(help: "OAuth refresh token (@FILE, -, env:NAME).") var refreshToken: String
        @Option(help: "Seconds the access token has left (Bitrix24's expires_in).") var tokenExpiresIn: Int?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            var secrets = SecretInput()
            let access: String, refresh: String
            do {
                access = try secrets.read(token, option: "--token")!
                refresh = try secrets.read(refreshToken, option: "--refresh-token")!
            } catch let error as SecretInputError {
                throw ValidationError(error.description)
            }
            let expiresAt = try tokenExpiry(tokenExpiresIn)
            try CLIError.explaining {
                try PortalStore.setTokens(
                    portal: name, accessToken: access, refreshToken: refresh, expiresAt: expiresAt, by: "cli",
                    on: try database.connect())
            }
            print("stored a new token pair for portal \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List portals (never their secrets).")
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let portals = try PortalStore.list(on: try database.connect())
            if json { return try printJSON(portals) }
            if portals.isEmpty { return print("no portals; add one with: b24outbox portal add NAME --url WEBHOOK_URL") }
            for p in portals {
                let events = p.acceptsEvents ? "events" : "no events"
                print("\(p.name)\t\(p.authKind)\t\(p.baseURL)\t\(p.rateBucket)/\(p.rateDrain)/s\t\(events)\t\(p.state.rawValue)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a portal that has no intents.")
        @Argument var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try CLIError.explaining { try PortalStore.remove(named: name, on: try database.connect()) }
            print("removed portal \(name)")
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop claiming a portal's intents: they wait, neither sent nor spending attempts.",
            discussion: "Calls already claimed finish. `portal resume NAME` delivers them again.")
        @Argument var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let changed = try CLIError.explaining {
                try PortalStore.setState(.paused, portal: name, by: "cli", on: try database.connect())
            }
            print(changed ? "paused portal \(name)" : "portal \(name) is paused already")
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Claim a paused portal's intents again.")
        @Argument var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let changed = try CLIError.explaining {
                try PortalStore.setState(.active, portal: name, by: "cli", on: try database.connect())
            }
            print(changed ? "resumed portal \(name)" : "portal \(name) is active already")
        }
    }
}

/// When an access token with `seconds` left expires; nil when not given.
private func tokenExpiry(_ seconds: Int?) throws -> Date? {
    guard let seconds else { return nil }
    try requireRange(seconds, PortalRegistration.tokenLifetimes, "--token-expires-in", unit: " seconds")
    return Date().addingTimeInterval(TimeInterval(seconds))
}
