// What the browser caller's page and the agent page share: the token,
// the log, JSON posts, and a connection carrying the microphone.
const query = new URLSearchParams(location.search);
const token = query.get("token");
const withToken = (path, params = {}) => {
  const all = new URLSearchParams(params);
  if (token) all.set("token", token);
  const text = all.toString();
  return text ? `${path}?${text}` : path;
};
const $ = (id) => document.getElementById(id);

// Each line goes to the console too, where a test's browser log keeps it.
function log(text) { console.log(`voicegate: ${text}`); const item = document.createElement("li"); item.textContent = text; $("log").prepend(item); }

async function post(path, body) {
  const reply = await fetch(withToken(path), {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!reply.ok) throw new Error(`${reply.status}: ${await reply.text()}`);
  return reply.json();
}

// No trickle: the offer goes with every host candidate in it.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((done) => {
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") done(); });
    setTimeout(done, 3000);
  });
}

// A connection with the microphone on it and what comes back playing in
// `speaker`, its offer made and gathered.
async function microphoneOffer(speaker) {
  // Raw audio: echo cancelling, noise suppression and gain control change the voice the anger model hears.
  const microphone = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  const connection = new RTCPeerConnection({iceServers: []});
  for (const track of microphone.getTracks()) connection.addTrack(track, microphone);
  connection.ontrack = (event) => { speaker.srcObject = event.streams[0] || new MediaStream([event.track]); };
  await connection.setLocalDescription(await connection.createOffer());
  await gathered(connection);
  return connection;
}
