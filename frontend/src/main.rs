//! Entry point of the WebAssembly binary: mounts the app on the page's `<body>`.

fn main() {
    yew::Renderer::<frontend::App>::new().render();
}
