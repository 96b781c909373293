import Bitrix24Simulator
import Testing

/// The secrets the suite's portals use: none may ever appear in the log, in intents, or in any
/// command output.
public enum TestSecrets {
    public static var known: [String] {
        let defaults = Simulator.Configuration()
        return [defaults.webhookCode, defaults.oauth.accessToken, defaults.oauth.refreshToken, defaults.oauth.clientSecret]
    }

    /// Records an issue for each secret found in `text`.
    public static func expectAbsent(_ secrets: [String], in text: String, _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in secrets where !secret.isEmpty && text.contains(secret) {
            Issue.record("a secret appears in \(what)", sourceLocation: sourceLocation)
        }
    }
}
