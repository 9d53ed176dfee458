/// The web page: its HTML, script and style sheet, served by maildex itself (no build
/// step, nothing from other hosts).
enum Page {
    static let html = "<!doctype html><title>maildex</title>"
    static let script = ""
    static let style = ""
}
