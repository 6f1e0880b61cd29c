// token_reference.mjs — reference token counts for the count_tokens estimator's fixtures
// (tests/data/tokens/*.json), written to tests/data/tokens/reference_counts.json as
//   {"<fixture file>": {"cl100k": n, "claude": m}}
// and checked by tests/unit/token_estimator_test.cpp.
//
// Rerun (from the repository root; the tokenizers live outside the repo, never commit them):
//   npm install --prefix /tmp/tok js-tiktoken @anthropic-ai/tokenizer
//   node tests/tools/token_reference.mjs     # TOKENIZER_PREFIX=/other/dir instead of /tmp/tok
//
// What is counted, per fixture request — each part is tokenized on its own and the counts added:
//   - system: the string, or the `text` of each text block; plus 3 framing tokens and the role
//     ("system") as for any message;
//   - every message: 3 framing tokens + the role string, and for its content: a string; `text`
//     blocks' text; `thinking` blocks' thinking text; `tool_use`: the name and
//     JSON.stringify(input); `tool_result`: its string content or the text of its text blocks;
//     `document` with a text source: its title, context and data;
//   - tools: JSON.stringify of each tool definition as written in the fixture;
//   - tool_choice: JSON.stringify of it, when present;
//   - 3 tokens priming the reply.
// The framing (3 per message + role, 3 for the reply) is OpenAI's chat-format accounting. Block
// ids, signatures, cache_control and the request's model / max_tokens are not counted. Images and
// PDFs cannot be counted by a text tokenizer: a fixture containing one is rejected (image sizing
// is tested separately).
//   cl100k: js-tiktoken's cl100k_base (OpenAI's GPT-4 / GPT-3.5 tokenizer).
//   claude: @anthropic-ai/tokenizer (Claude's earlier, public tokenizer), when it is installed.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const prefix = process.env.TOKENIZER_PREFIX ?? '/tmp/tok';
const requireFromPrefix = createRequire(path.join(prefix, 'node_modules', 'noop.js'));

const { getEncoding } = requireFromPrefix('js-tiktoken');
const cl100k = getEncoding('cl100k_base');
const counters = { cl100k: (text) => cl100k.encode(text).length };
try {
  const { countTokens } = requireFromPrefix('@anthropic-ai/tokenizer');
  counters.claude = (text) => countTokens(text);
} catch {
  console.warn('@anthropic-ai/tokenizer not installed: the claude column is left out');
}

const FRAMING_PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

// ---- What reaches the model: a list of texts plus fixed framing tokens --------------------------

function blockTexts(block, fixture) {
  if (typeof block === 'string') return [block];
  switch (block?.type) {
    case 'text': return [block.text];
    case 'thinking': return [block.thinking];
    case 'tool_use': return [block.name, JSON.stringify(block.input)];
    case 'tool_result': return contentTexts(block.content ?? [], fixture);
    case 'document':
      if (block.source?.type !== 'text') {
        throw new Error(`${fixture}: only text documents are countable`);
      }
      return [block.title, block.context, block.source.data].filter((t) => typeof t === 'string');
    case 'image': throw new Error(`${fixture}: images cannot be counted by a text tokenizer`);
    default: throw new Error(`${fixture}: unexpected block type ${block?.type}`);
  }
}

function contentTexts(content, fixture) {
  if (typeof content === 'string') return [content];
  return content.flatMap((block) => blockTexts(block, fixture));
}

// Returns { texts, framing }: texts to tokenize, and framing tokens added as they are.
function requestParts(request, fixture) {
  const texts = [];
  let framing = REPLY_PRIMING;
  if (request.system !== undefined) {
    texts.push('system', ...contentTexts(request.system, fixture));
    framing += FRAMING_PER_MESSAGE;
  }
  for (const message of request.messages ?? []) {
    texts.push(message.role, ...contentTexts(message.content, fixture));
    framing += FRAMING_PER_MESSAGE;
  }
  for (const tool of request.tools ?? []) texts.push(JSON.stringify(tool));
  if (request.tool_choice !== undefined) texts.push(JSON.stringify(request.tool_choice));
  return { texts: texts.filter((t) => t.length > 0), framing };
}

// ---- Main ---------------------------------------------------------------------------------------

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtureDir = path.join(repoRoot, 'tests', 'data', 'tokens');
const outputFile = path.join(fixtureDir, 'reference_counts.json');

const result = {};
const fixtures = fs.readdirSync(fixtureDir)
  .filter((name) => name.endsWith('.json') && name !== path.basename(outputFile))
  .sort();
for (const name of fixtures) {
  const request = JSON.parse(fs.readFileSync(path.join(fixtureDir, name), 'utf8'));
  const { texts, framing } = requestParts(request, name);
  result[name] = {};
  for (const [column, count] of Object.entries(counters)) {
    result[name][column] = framing + texts.reduce((sum, text) => sum + count(text), 0);
  }
  console.log(name.padEnd(28), JSON.stringify(result[name]));
}
fs.writeFileSync(outputFile, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${path.relative(repoRoot, outputFile)}`);
