// The playground page: chat with the bot, see A and B side by side, vote, click again to withdraw.
// Text is only ever inserted with textContent, never as HTML.
const log = document.getElementById('log');
const form = document.getElementById('send');
const nameInput = document.getElementById('name');
const textInput = document.getElementById('text');
const errorBox = document.getElementById('error');
let conversationId = sessionStorage.getItem('pairwise.conversation') || undefined;
nameInput.value = localStorage.getItem('pairwise.name') || '';

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

function showExchange(userText, data) {
  const node = document.getElementById('exchange').content.firstElementChild.cloneNode(true);
  node.querySelector('.user-msg').textContent = userText;
  if (!data.candidates) {
    node.querySelector('.pair').replaceWith(Object.assign(document.createElement('div'), { className: 'bot-msg', textContent: data.message }));
    node.querySelector('.votes').remove();
  } else {
    for (const c of data.candidates) node.querySelector(`.cand[data-slot="${c.slot}"] p`).textContent = c.text;
    node.querySelector('.version').textContent = `policy v${data.policyVersion}`;
    let current = null;
    for (const button of node.querySelectorAll('.votes button')) {
      button.addEventListener('click', async () => {
        const choice = button.dataset.choice;
        const user = nameInput.value.trim();
        try {
          if (current === choice) {
            await api('DELETE', '/api/votes', { promptId: data.promptId, user });
            current = null;
          } else {
            await api('POST', '/api/votes', { promptId: data.promptId, user, choice });
            current = choice;
          }
          errorBox.textContent = '';
        } catch (err) {
          errorBox.textContent = err.message;
        }
        for (const b of node.querySelectorAll('.votes button')) b.classList.toggle('active', b.dataset.choice === current);
        for (const c of node.querySelectorAll('.cand')) c.classList.toggle('chosen', c.dataset.slot === current);
      });
    }
  }
  log.appendChild(node);
  node.scrollIntoView({ block: 'end' });
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = nameInput.value.trim();
  const text = textInput.value;
  if (!user || !text.trim()) return;
  localStorage.setItem('pairwise.name', user);
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const data = await api('POST', '/api/chat', { user, text, conversationId });
    conversationId = data.conversationId;
    sessionStorage.setItem('pairwise.conversation', conversationId);
    showExchange(text, data);
    textInput.value = '';
    errorBox.textContent = '';
  } catch (err) {
    errorBox.textContent = err.message;
  } finally {
    button.disabled = false;
    textInput.focus();
  }
});
