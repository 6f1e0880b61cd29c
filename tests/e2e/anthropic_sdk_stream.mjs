// anthropic_sdk_stream.mjs — the official Anthropic TypeScript SDK (@anthropic-ai/sdk) parses
// what balancer-server makes of an OpenAI-compatible upstream (tests/tools/mock_openai with
// --tool Read --reasoning): a streamed answer with thinking, text and a tool_use whose input
// arrives as input_json_delta fragments; the tool result sent back; and a non-streaming call.
// Run by tests/e2e/anthropic_sdk.sh, which starts the servers and sets BALANCER_URL.
// Exits non-zero with a message on the first failed check.
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ baseURL: process.env.BALANCER_URL, apiKey: 'sk-client-key', maxRetries: 0 });
const tools = [{
  name: 'Read',
  description: 'Reads a file from the local filesystem.',
  input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] },
}];
const question = { role: 'user', content: 'What does notes.txt say?' };

// 1. Streaming: thinking, text, tool_use with streamed input.
const stream = client.messages.stream({ model: 'claude-opus-4-8', max_tokens: 512, tools, messages: [question] });
let inputJsonEvents = 0;
let textEvents = 0;
let thinkingEvents = 0;
stream.on('inputJson', () => { inputJsonEvents++; });
stream.on('text', () => { textEvents++; });
stream.on('thinking', () => { thinkingEvents++; });
const first = await stream.finalMessage();
assert.equal(first.type, 'message');
assert.equal(first.role, 'assistant');
assert.equal(first.model, 'claude-opus-4-8');
assert.match(first.id, /^msg_/);
assert.equal(first.stop_reason, 'tool_use');
assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
const toolUse = first.content[2];
assert.equal(toolUse.name, 'Read');
assert.deepEqual(toolUse.input, { file_path: '/tmp/notes.txt' });
assert.ok(inputJsonEvents >= 2, `expected the tool input in several input_json_delta events, got ${inputJsonEvents}`);
assert.ok(textEvents >= 1 && thinkingEvents >= 1, 'expected text and thinking deltas');
assert.ok(first.usage.output_tokens > 0, 'expected usage.output_tokens from the final message_delta');
console.log(`stream 1: ${first.content.length} blocks, ${inputJsonEvents} input_json_delta, stop_reason=${first.stop_reason}`);

// 2. The tool result goes back (assistant turn with thinking + tool_use, user turn with tool_result).
const second = await client.messages.stream({
  model: 'claude-opus-4-8',
  max_tokens: 512,
  tools,
  messages: [
    question,
    { role: 'assistant', content: first.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'The launch code is PELICAN-42.' }] },
  ],
}).finalMessage();
assert.equal(second.stop_reason, 'end_turn');
const answer = second.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
assert.match(answer, /PELICAN-42/);
console.log(`stream 2: "${answer}"`);

// 3. Non-streaming.
const plain = await client.messages.create({ model: 'claude-opus-4-8', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
assert.equal(plain.type, 'message');
assert.match(plain.content.find((b) => b.type === 'text').text, /Hello from the mock OpenAI upstream/);
console.log('non-streaming: ok');

// 4. An upstream error is an Anthropic APIError with the status kept.
try {
  await client.messages.create({ model: 'no-such-model-route', max_tokens: 8, messages: [question] });
  assert.fail('expected a 404');
} catch (err) {
  assert.ok(err instanceof Anthropic.APIError, `expected an APIError, got ${err}`);
  assert.equal(err.status, 404);
}
console.log('PASS');
