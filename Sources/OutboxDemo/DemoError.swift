/// Why the demo stopped: printed as `Error: …` by the command, exit status 1.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
