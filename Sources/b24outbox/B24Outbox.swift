import ArgumentParser

@main
struct B24Outbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "b24outbox",
        abstract: "Reliable, audited delivery of Bitrix24 chats and notifications from PostgreSQL.",
        subcommands: [
            MigrateCommand.self, PortalCommand.self, EnqueueCommand.self, CancelCommand.self, WorkerCommand.self,
            ServeCommand.self, RunCommand.self, EventsCommand.self,
            ReplayCommand.self, LogCommand.self, StatsCommand.self, VerifyCommand.self, SimulateCommand.self,
            DemoCommand.self, BenchCommand.self,
        ]
    )
}
