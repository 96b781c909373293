// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "b24outbox",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "b24outbox", targets: ["b24outbox"]),
        .library(name: "Outbox", targets: ["Outbox"]),
        .library(name: "Bitrix24", targets: ["Bitrix24"]),
        .library(name: "Bitrix24Wire", targets: ["Bitrix24Wire"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "OutboxApp", targets: ["OutboxApp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // libpq, as the system installs it (apt: libpq-dev).
        .systemLibrary(
            name: "CLibpq",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // Day numbers to and from calendar dates, for the timestamps of Postgres and the simulator.
        .target(name: "CivilDate"),
        .target(name: "Postgres", dependencies: ["CLibpq", "CivilDate"]),
        // What Bitrix24 sends and takes: JSON values and PHP's bracket form encoding.
        .target(name: "Bitrix24Wire"),
        .target(
            name: "Bitrix24",
            dependencies: [
                "Bitrix24Wire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Bitrix24Simulator",
            dependencies: [
                "CivilDate",
                "Bitrix24Wire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                // Sends inbound events (ONIMCONNECTORDIALOGFINISH) to an application's handler.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Outbox",
            dependencies: [
                "Postgres", "Bitrix24", "Bitrix24Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // HTTP: the Bitrix24 event handler, health, readiness and Prometheus metrics.
        .target(
            name: "OutboxServer",
            dependencies: [
                "Outbox", "Postgres", "Bitrix24", "Bitrix24Wire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The composition root: builds the services of serve, worker and run from one configuration.
        .target(
            name: "OutboxApp",
            dependencies: [
                "Outbox", "OutboxServer", "Postgres", "Bitrix24",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `b24outbox demo`: the product end to end against a simulated portal, stage by stage.
        .target(
            name: "OutboxDemo",
            dependencies: [
                "Outbox", "OutboxApp", "Postgres", "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator", "LocalProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Child processes and loopback ports, for the demo's PostgreSQL and the bench's children.
        .target(name: "LocalProcess"),
        // `b24outbox bench`: the speed workloads, run against child simulator and worker processes.
        .target(
            name: "Benchmarks",
            dependencies: [
                "Outbox", "Postgres", "Bitrix24", "Bitrix24Wire", "LocalProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "b24outbox",
            dependencies: [
                "Outbox", "OutboxApp", "OutboxDemo", "OutboxServer", "Postgres", "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator", "Benchmarks", "LocalProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Compiles sql/*.sql into the Outbox module, so the binary carries its own migrations.
        .executableTarget(name: "EmbedMigrationsTool", path: "Sources/EmbedMigrationsTool"),
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["EmbedMigrationsTool"]),

        // Scratch databases and CLI runs shared by the test targets.
        .target(name: "TestSupport", dependencies: ["Postgres", "Outbox", "Bitrix24Simulator"], path: "Tests/TestSupport"),
        // The b24outbox executable, run as a user runs it.
        .testTarget(
            name: "CLITests",
            dependencies: [
                "Outbox", "Postgres", "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator", "TestSupport", "LocalProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport", "LocalProcess"]),
        .testTarget(
            name: "OutboxServerTests",
            dependencies: [
                "OutboxServer", "OutboxApp", "Outbox", "Postgres", "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator", "TestSupport", "LocalProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "OutboxTests",
            dependencies: [
                "Outbox", "OutboxApp", "Postgres", "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "Bitrix24WireTests", dependencies: ["Bitrix24Wire", "Bitrix24Simulator"]),
        .testTarget(
            name: "Bitrix24Tests",
            dependencies: [
                "Bitrix24", "Bitrix24Wire", "Bitrix24Simulator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "Bitrix24SimulatorTests",
            dependencies: [
                "Bitrix24Simulator", "Bitrix24", "Bitrix24Wire", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
