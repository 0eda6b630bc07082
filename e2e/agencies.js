#!/usr/bin/env node
'use strict';
// Answer the bot's invitations as the agencies, in the demo started by scripts/run.sh.
//
// The browser is the Playground's current user: the social worker who requests and chairs the
// meeting. The agencies are the Playground's five mock users (e2e/.m365agentsplayground.yml);
// the Playground never shows their 1:1 chats in the browser, so this script presses the
// buttons of their invitation cards through the Playground's own API, as those users.
//
//   node e2e/agencies.js                          list the invitations and their answers
//   node e2e/agencies.js accept all               every agency still to answer accepts
//   node e2e/agencies.js accept police            one agency (part of the mock user's name)
//   node e2e/agencies.js decline health "On leave today; ask the duty nurse"
//   node e2e/agencies.js nominate police "PS Bo Pretend" bo.pretend@avon-somerset.police.example
//                                                 a colleague goes in their place (one in the
//                                                 directory is invited; anyone else is passed to the chair)
//
// Options: --playground URL (default $PLAYGROUND_URL or http://127.0.0.1:56150),
//          --recording FILE (default $PLAYGROUND_RECORDING or var/playground/events.log: the
//          Playground's events recording, where the invitation cards are found).

const path = require('node:path');
const pg = require('./lib/playground');

const ANSWERED = { accept: 'accepted', decline: 'declined', nominate: 'nominated a colleague', written: 'in writing' };

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node e2e/agencies.js [list | accept WHO | decline WHO REASON | nominate WHO NAME EMAIL] '
    + '[--playground URL] [--recording FILE]\n  WHO: all, or part of a mock user\'s name (police, health, "social care", Alex ...)');
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let playground = process.env.PLAYGROUND_URL || 'http://127.0.0.1:56150';
  let recording = process.env.PLAYGROUND_RECORDING || path.resolve(__dirname, '..', 'var', 'playground', 'events.log');
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--playground') playground = args[++i];
    else if (args[i] === '--recording') recording = args[++i];
    else if (args[i] === '-h' || args[i] === '--help') usage();
    else rest.push(args[i]);
  }
  if (!playground || !recording) usage('--playground and --recording need a value');
  playground = playground.replace(/\/+$/, '');
  const [command = 'list', who, ...reasonWords] = rest;

  let config;
  try {
    config = await pg.playgroundConfig(playground);
  } catch (e) {
    console.error(`The Playground does not answer at ${playground} (${e.message}). Start the demo with: bash scripts/run.sh`);
    process.exit(1);
  }
  const names = new Map(config.users.map((u) => [u.id, u.name]));
  const invitations = pg.invitationsFrom(pg.readRecording(recording)).map((inv) => ({
    ...inv, name: names.get(inv.userId) || `${inv.userId} (not a Playground user)`,
    caseRef: (/Case reference: (.*)/.exec(inv.text) || [])[1] || '?',
  }));

  if (command === 'list') {
    if (!invitations.length) {
      console.log(`No invitations yet (read ${recording}). In the browser: type "new", fill the form, `
        + 'work out the plan and press "Send invitations".');
      return;
    }
    for (const inv of invitations) {
      console.log(`${(ANSWERED[inv.answer] || 'WAITING').padEnd(20)} `
        + `${inv.name.padEnd(34)} case ${inv.caseRef}`);
    }
    return;
  }
  if (!['accept', 'decline', 'nominate'].includes(command) || !who) usage();
  const reason = reasonWords.join(' ').trim();
  if (command === 'decline' && !reason) usage('decline needs a reason');
  const [nomineeName = '', nomineeEmail = ''] = command === 'nominate' ? reasonWords : [];
  if (command === 'nominate' && (!nomineeName.trim() || !nomineeEmail.includes('@'))) {
    usage('nominate needs the colleague\'s name and email address, e.g. nominate police "PS Bo Pretend" bo@police.example');
  }
  if (command === 'nominate' && who.toLowerCase() === 'all') usage('nominate one agency at a time');

  const wanted = who.toLowerCase();
  const targets = invitations.filter((inv) => !inv.answered
    && (wanted === 'all' || inv.name.toLowerCase().includes(wanted)));
  if (!targets.length) {
    console.log(`No unanswered invitation for "${who}". Invitations so far:`);
    for (const inv of invitations) console.log(`  ${ANSWERED[inv.answer] || 'waiting'}: ${inv.name} (case ${inv.caseRef})`);
    process.exit(1);
  }
  for (const inv of targets) {
    const verb = { accept: 'invite_accept', decline: 'invite_decline', nominate: 'invite_nominate' }[command];
    const data = {
      invitation_id: inv.invitationId,
      ...(command === 'decline' ? { decline_reason: reason } : {}),
      ...(command === 'nominate' ? { nominee_name: nomineeName.trim(), nominee_email: nomineeEmail.trim() } : {}),
    };
    const answer = await pg.invokeAsUser(playground, {
      userId: inv.userId, conversationId: inv.conversationId, replyToId: inv.messageId, verb, data,
    });
    const text = typeof (answer && answer.value) === 'string' ? answer.value : pg.cardText(answer && answer.value)[1] || '';
    console.log(`${inv.name}, case ${inv.caseRef}: ${text}`);
  }
  console.log('The chair\'s status card in the browser updates by itself.');
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
