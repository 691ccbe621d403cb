// Evaluate one Step Functions JSONata expression ("{% ... %}") with $states bound, the way a
// state machine would: used by the tests to run the generated expressions for real.
// stdin: {"expression": "{% ... %}", "states": {"input": ..., "result": ..., "context": ...}, "variables": {...}}
const jsonata = require("jsonata");

let text = "";
process.stdin.on("data", (chunk) => (text += chunk));
process.stdin.on("end", async () => {
  const { expression, states, variables } = JSON.parse(text);
  const body = expression.trim().replace(/^\{%/, "").replace(/%\}$/, "");
  try {
    const expression = jsonata(body);
    // Step Functions' own additions to JSONata that the generated documents use.
    expression.registerFunction("parse", (text) => JSON.parse(text), "<s:x>");
    const result = await expression.evaluate({}, { ...(variables || {}), states });
    process.stdout.write(JSON.stringify(result === undefined ? null : result));
  } catch (error) {
    process.stderr.write(`jsonata: ${error.message}\n`);
    process.exit(1);
  }
});
