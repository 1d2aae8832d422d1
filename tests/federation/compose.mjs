// Composes subgraph SDLs into a supergraph as an Apollo gateway would, and plans a query.
//
// stdin:  {"subgraphs": [{"name", "url", "sdl"}], "query": "<optional operation to plan>"}
// stdout: {"errors": [...], "hints": [...], "supergraphSdl": "...", "fetches": [{"service", "path", "operation"}]}
//
// Parsing is graphql-js's (spec-strict), composition and planning are @apollo/composition's and
// @apollo/query-planner's: what `rover supergraph compose` and Apollo Router/Gateway run.
import { composeServices } from "@apollo/composition";
import { Supergraph, operationFromDocument } from "@apollo/federation-internals";
import { QueryPlanner } from "@apollo/query-planner";
import { parse } from "graphql";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));

const report = { errors: [], hints: [], supergraphSdl: null, fetches: [] };

function message(error) {
  return `${error.extensions?.code ?? error.name}: ${error.message}`;
}

const services = [];
for (const { name, url, sdl } of input.subgraphs) {
  try {
    services.push({ name, url, typeDefs: parse(sdl) });
  } catch (error) {
    report.errors.push(`${name}: ${message(error)}`);
  }
}

if (report.errors.length === 0) {
  const result = composeServices(services);
  report.hints = (result.hints ?? []).map((hint) => hint.toString());
  if (result.errors) {
    report.errors = result.errors.map(message);
  } else {
    report.supergraphSdl = result.supergraphSdl;
    if (input.query) {
      const supergraph = Supergraph.build(result.supergraphSdl);
      const planner = new QueryPlanner(supergraph);
      const operation = operationFromDocument(supergraph.schema, parse(input.query));
      collectFetches(planner.buildQueryPlan(operation).node, [], report.fetches);
    }
  }
}

// The plan's fetches in execution order, each with the response path it fills.
function collectFetches(node, path, fetches) {
  if (!node) return;
  switch (node.kind) {
    case "Fetch":
      fetches.push({ service: node.serviceName, path, operation: node.operation });
      break;
    case "Flatten":
      collectFetches(node.node, node.path, fetches);
      break;
    case "Sequence":
    case "Parallel":
      for (const child of node.nodes) collectFetches(child, path, fetches);
      break;
    default:
      throw new Error(`query plan node ${node.kind} is not handled here`);
  }
}

process.stdout.write(JSON.stringify(report));
