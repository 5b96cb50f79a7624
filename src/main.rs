fn main() -> std::process::ExitCode {
    voicegate::cli::run()
}
