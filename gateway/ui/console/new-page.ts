// The create page (/ui/new): name, runtime, the code (the runtime's template in the editor, or a file to
// upload) and the settings the API takes, each with a slot for the API's own message about it. The page's
// script (/ui/assets/console.js) sends it as the API's multipart upload; without script it says so.

import { html, type Html } from '../html.js';
import { TEMPLATES } from './templates.js';

const number = (name: string, label: string, hint: string) => html`<label>${label}<input name="${name}" inputmode="decimal" placeholder="${hint}"><span class="field-error" data-for="${name}"></span></label>`;

export function newFunctionBody(): Html {
  return html`<link rel="stylesheet" href="/ui/assets/console.css">
<script src="/ui/assets/console.js" defer></script>
<section class="panel console">
<h1>Create a function</h1>
<noscript><p class="alert">The console's editor and deploy need JavaScript; without it, upload with <code>stratus deploy</code> or POST /v1/functions.</p></noscript>
<form id="new-function" method="post" action="/ui/console/deploy" enctype="multipart/form-data">
<div class="settings">
  <label>Name<input name="name" required pattern="[a-z][a-z0-9-]{0,62}" placeholder="hello" autocomplete="off"><span class="field-error" data-for="name"></span></label>
  <label>Runtime<select name="runtime"><option value="node">Node.js</option><option value="python">Python</option></select><span class="field-error" data-for="runtime"></span></label>
</div>
<fieldset class="source"><legend>Code</legend>
  <label class="choice"><input type="radio" name="source" value="editor" checked> Write it here (starts from the runtime's template)</label>
  <label class="choice"><input type="radio" name="source" value="upload"> Upload a .zip, a .tar.gz or a single source file</label>
  <div class="source-editor"><textarea class="code" name="editor" spellcheck="false" rows="14">${TEMPLATES.node.text}</textarea></div>
  <div class="source-upload" hidden><input type="file" name="code" accept=".zip,.tar.gz,.tgz,.tar,.js,.mjs,.cjs,.py"></div>
  <span class="field-error" data-for="code"></span>
  <textarea hidden data-template="node">${TEMPLATES.node.text}</textarea>
  <textarea hidden data-template="python">${TEMPLATES.python.text}</textarea>
</fieldset>
<fieldset><legend>Settings</legend><p class="sub">Empty fields take the platform's defaults.</p>
<div class="settings">
  ${number('memoryMb', 'Memory (MB)', '256')}
  ${number('timeoutMs', 'Timeout (ms)', '30000')}
  ${number('concurrency', 'Concurrency per instance', '8')}
  ${number('minInstances', 'Min instances', '0')}
  ${number('maxInstances', 'Max instances', '10')}
  ${number('cpus', 'CPU cap (cores)', 'unset: a fair share')}
  <label>Network<select name="network"><option value="egress">egress: outbound allowed</option><option value="none">none: loopback only</option></select><span class="field-error" data-for="network"></span></label>
  <label class="wide">Environment (NAME=value, one a line)<textarea name="env" rows="3" spellcheck="false"></textarea><span class="field-error" data-for="env"></span></label>
  <span class="checks">Build checks <label class="choice"><input type="checkbox" name="checksLint" checked> lint</label> <label class="choice"><input type="checkbox" name="checksTest" checked> tests</label><span class="field-error" data-for="checks"></span></span>
</div>
</fieldset>
<p><button type="submit">Deploy</button></p>
<p class="deploy-error" role="alert"></p>
</form>
</section>`;
}
