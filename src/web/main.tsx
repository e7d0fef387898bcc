// The explorer's entry: render the app into the page.
import { render } from "preact";
import { App } from "./App.tsx";

render(<App />, document.getElementById("app")!);
