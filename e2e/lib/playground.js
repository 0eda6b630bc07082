'use strict';
// Helpers around Microsoft 365 Agents Playground (@microsoft/m365agentsplayground 0.2.x), shared
// by the end-to-end test (requester.spec.js), the agencies' helper (agencies.js) and
// scripts/run.sh. What they rely on, read from the package (dist/index.js):
//
// * `agentsplayground start -e <bot endpoint> -c msteams -p <port> --disable-telemetry
//   --enable-events-recording` serves the web UI and a mock Bot Connector at
//   http://localhost:<port>/_connector: that is the serviceUrl the bot is given, and the bot's
//   proactive calls (POST /v3/conversations, POST and PUT .../activities) land there. If the
//   port is taken it picks another and prints "Listening on <port>" on stdout.
// * The mock tenant comes from .m365agentsplayground.yml in the working directory (or
//   M365_AGENTS_PLAYGROUND_CONFIG_PATH): one tenantId, one currentUser (the browser) and
//   exactly five users. POST /v3/conversations {members: [{id}]} opens a 1:1 chat with
//   whatever id it is given; only a configured user can act in it.
// * The web UI shows only the current user's chats (the agencies' 1:1 chats are never sent
//   to the browser), so the agencies act through the Playground's conversation API:
//   POST /_conversation/v1/invoke {name: "adaptiveCard/action", from: {id}, conversation:
//   {id}, replyToId, value: {action: {type: "Action.Execute", verb, data}}} -> the Playground
//   sends the bot an invoke from that user (id, name, aadObjectId, tenant) exactly as for a
//   button pressed in the UI, and answers with the bot's invoke response.
// * With --enable-events-recording every exchange with the bot is appended to
//   M365_AGENTS_PLAYGROUND_RECORDING_FILE as JSON objects separated by "\n---\n" (request
//   url, body, response). That is where the agencies' chats and invitation cards are found.
// * Other environment: TEAMSAPPTESTER_BROWSER=none (do not open a browser),
//   M365_AGENTS_PLAYGROUND_LOGFILE (its log; default ./devTools/m365agentsplayground.log).

const fs = require('node:fs');
const path = require('node:path');

const E2E_DIR = path.resolve(__dirname, '..');
const CLI = path.join(E2E_DIR, 'node_modules', '@microsoft', 'm365agentsplayground', 'cli.js');
const CONFIG = path.join(E2E_DIR, '.m365agentsplayground.yml');

/** The recorded exchanges (a half-written last entry is left for the next read). */
function readRecording(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
  const items = [];
  for (const chunk of text.split('\n---\n')) {
    if (!chunk.trim()) continue;
    try {
      items.push(JSON.parse(chunk));
    } catch {
      // the entry being written right now
    }
  }
  return items;
}

function walkActions(node, out = []) {
  if (Array.isArray(node)) {
    for (const v of node) walkActions(v, out);
  } else if (node && typeof node === 'object') {
    if (node.type === 'Action.Execute' && typeof node.verb === 'string') out.push(node);
    for (const v of Object.values(node)) walkActions(v, out);
  }
  return out;
}

function cardText(node, out = []) {
  if (Array.isArray(node)) {
    for (const v of node) cardText(v, out);
  } else if (node && typeof node === 'object') {
    if (node.type === 'TextBlock' && typeof node.text === 'string') out.push(node.text);
    if (node.type === 'FactSet' && Array.isArray(node.facts)) {
      for (const f of node.facts) out.push(`${f.title}: ${f.value}`);
    }
    for (const [k, v] of Object.entries(node)) if (k !== 'actions') cardText(v, out);
  }
  return out;
}

const ACTIVITY_URL = /\/v3\/conversations\/([^/?]+)\/activities(?:\/([^/?]+))?$/;

/**
 * The invitation cards the bot sent into 1:1 chats, from the recording:
 * [{userId, conversationId, messageId, invitationId, text, answered, answer}]
 * (userId: the member the bot opened the chat with, i.e. the contact's Entra object id).
 */
function invitationsFrom(items) {
  const chatUser = new Map();
  const invitations = [];
  const answers = new Map();
  for (const it of items) {
    const req = it.request || {};
    const body = req.body || {};
    const res = it.response || {};
    const url = String(req.url || '');
    if (it.activityName === 'createConversation' && res.statusCode === 201 && res.body && res.body.id) {
      const member = (body.members || [])[0];
      if (member && member.id) chatUser.set(res.body.id, member.id);
      continue;
    }
    const m = ACTIVITY_URL.exec(url);
    if (m && req.method === 'POST' && res.statusCode === 201 && res.body && res.body.id) {
      const conversationId = decodeURIComponent(m[1]);
      const card = ((body.attachments || [])[0] || {}).content;
      const accept = walkActions(card).find((a) => a.verb === 'invite_accept');
      if (accept && accept.data && accept.data.invitation_id) {
        invitations.push({
          userId: chatUser.get(conversationId) || null,
          conversationId,
          messageId: String(res.body.id),
          invitationId: String(accept.data.invitation_id),
          text: cardText(card).join('\n'),
        });
      }
      continue;
    }
    if (it.activityName === 'invoke' && body.name === 'adaptiveCard/action' && body.replyToId) {
      // The bot answers an invoke with the card that replaces the pressed one: an invitation
      // card still offering "Accept" means unanswered (or reopened); another card, answered.
      // A plain message (e.g. "only they can answer") changes nothing.
      const verb = ((body.value || {}).action || {}).verb || '';
      const reply = res.body || {};
      if (verb.startsWith('invite_') && res.statusCode === 200 && reply.type === 'application/vnd.microsoft.card.adaptive') {
        const open = walkActions(reply.value).some((a) => a.verb === 'invite_accept');
        answers.set(String(body.replyToId), open ? null : verb.replace('invite_', ''));
      }
    }
  }
  for (const inv of invitations) {
    inv.answer = answers.get(inv.messageId) || null;
    inv.answered = Boolean(inv.answer);
  }
  return invitations;
}

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

/** The Playground's mock tenant as it loaded it (GET /_internal/v1/config). */
async function playgroundConfig(baseUrl) {
  const data = await request('GET', `${baseUrl}/_internal/v1/config`);
  return data.config;
}

/**
 * Press an Action.Execute button of a card as `userId`, through the Playground: it sends the
 * bot the `adaptiveCard/action` invoke and returns the bot's answer ({type, value}).
 */
async function invokeAsUser(baseUrl, { userId, conversationId, replyToId, verb, data }) {
  return request('POST', `${baseUrl}/_conversation/v1/invoke`, {
    name: 'adaptiveCard/action',
    from: { id: userId },
    conversation: { id: conversationId },
    replyToId,
    value: { action: { type: 'Action.Execute', verb, data: { verb, ...data } }, trigger: 'manual' },
  });
}

/**
 * Press an Action.Submit button as `userId` (the cards' fallback for clients without universal
 * actions): the Playground sends the bot a message activity whose `value` is the button's data
 * and answers 200 at once, before the bot has replied.
 */
async function submitAsUser(baseUrl, { userId, conversationId, replyToId, data }) {
  return request('POST', `${baseUrl}/_conversation/v1/submit`, {
    from: { id: userId },
    conversation: { id: conversationId },
    replyToId,
    value: data,
  });
}

/** Card updates the bot made (PUT .../activities/{id}) from the recording: [{conversationId, messageId, text}]. */
function cardUpdatesFrom(items) {
  const out = [];
  for (const it of items) {
    const req = it.request || {};
    const m = ACTIVITY_URL.exec(String(req.url || ''));
    if (!m || req.method !== 'PUT' || !m[2] || (it.response || {}).statusCode !== 200) continue;
    const card = (((req.body || {}).attachments || [])[0] || {}).content;
    out.push({ conversationId: decodeURIComponent(m[1]), messageId: decodeURIComponent(m[2]), text: cardText(card).join('\n') });
  }
  return out;
}

module.exports = {
  CLI,
  CONFIG,
  E2E_DIR,
  cardText,
  cardUpdatesFrom,
  invitationsFrom,
  invokeAsUser,
  playgroundConfig,
  readRecording,
  request,
  submitAsUser,
};
