import Bitrix24Wire
import Foundation

extension Portal {
    /// `GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`, as
    /// the OAuth server answers it. `baseURL` is where this simulator is reachable
    /// (`http://127.0.0.1:PORT`), standing in for both the OAuth server and the portal;
    /// `renamedBaseURL` is the portal's address once renamed (`client_endpoint` then).
    func token(_ params: [String: JSONValue], baseURL: String, renamedBaseURL: String) -> Reply {
        func refuse(_ code: String, _ text: String) -> Reply {
            stats.refreshErrors[code, default: 0] += 1
            return Reply(status: 400, body: ["error": .string(code), "error_description": .string(text)])
        }
        let oauth = configuration.oauth
        guard let grant = params["grant_type"]?.stringValue, !grant.isEmpty else {
            return refuse("invalid_request", "grant_type is missing")
        }
        guard grant == "refresh_token" else {
            return refuse("unsupported_grant_type", "Unsupported grant type")
        }
        guard params["client_id"]?.stringValue == oauth.clientID,
            params["client_secret"]?.stringValue == oauth.clientSecret
        else {
            return refuse("invalid_client", "Invalid client credentials")
        }
        guard let refreshToken = params["refresh_token"]?.stringValue,
            let issued = tokens.refresh(refreshToken, now: Date())
        else {
            return refuse("invalid_grant", "Invalid refresh token")
        }
        stats.refreshes += 1
        let lifetime = Int64(tokens.accessLifetime.rounded())
        let endpoint = (renamedTo == nil ? baseURL : renamedBaseURL) + "/rest/"
        return Reply(
            status: 200,
            body: [
                "access_token": .string(issued.accessToken),
                "refresh_token": .string(issued.refreshToken),
                "expires": .int(Int64(issued.expires.timeIntervalSince1970)),
                "expires_in": .int(lifetime),
                "scope": .string(oauth.scope),
                "domain": .string(URL(string: baseURL)?.host ?? configuration.host),
                "server_endpoint": .string(baseURL + "/rest/"),
                "status": "L",
                "client_endpoint": .string(endpoint),
                "member_id": .string(configuration.memberID),
                "user_id": .int(oauth.userID),
            ])
    }
}
