// Writes data/corpus.jsonl: the everyday exchanges the policy is bootstrapped on before
// any votes exist. Hand-written lines plus slot templates whose replies are specific to
// the slot, sampled with a fixed seed so the output is reproducible.
// Run: npx tsx scripts/make-corpus.ts

import { writeFileSync } from 'node:fs';
import { mulberry32 } from '../src/model/prng.ts';
import type { Turn } from '../src/model/tokenizer.ts';

const SEED = 20240611;
const OUT = new URL('../data/corpus.jsonl', import.meta.url);
/** Replies longer than this are rejected: the policy should learn short answers. */
const MAX_REPLY_WORDS = 40;
const MIN_DIALOGUES = 600;

type Pair = [user: string, bot: string];

const rand = mulberry32(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
const fill = (template: string, slots: Record<string, string | number>) =>
  template.replace(/\{(\w+)\}/g, (_, k: string) => {
    if (!(k in slots)) throw new Error(`template slot {${k}} has no value in ${JSON.stringify(template)}`);
    return String(slots[k]);
  });

const dialogues: Turn[][] = [];
const exchange = (...pairs: Pair[]) =>
  dialogues.push(pairs.flatMap(([user, bot]) => [{ role: 'user' as const, text: user }, { role: 'bot' as const, text: bot }]));

// ---------------------------------------------------------------- greetings

const hellos = ['hi', 'Hello!', 'hey', 'hey there', 'Hiya!', 'hello bot', 'hi, anyone there?', 'Howdy!', 'yo', 'heyyy', 'Hi there :)', 'hello hello', 'Greetings!', 'sup'];
const helloReplies = [
  "Hi! How's your day going?",
  "Hello! What's on your mind today?",
  'Hey there! 👋 What can I do for you?',
  'Hi! Good to see you. How are things?',
  "Hey! I'm here. What would you like to talk about?",
  'Hello! Anything fun planned for today?',
  "Hi there! What's new with you?",
  'Hey! Nice of you to stop by. How are you doing?',
  "Hello! I'm all ears. What's up?",
  'Hi! Ready when you are. What shall we chat about?',
];
for (const hello of hellos) for (const reply of shuffle([...helloReplies]).slice(0, 3)) exchange([hello, reply]);

const timedGreetings: Pair[] = [
  ['Good morning!', 'Good morning! Did you sleep well?'],
  ['morning', 'Morning! ☀️ Have you had your coffee yet?'],
  ['Good morning, how are you today?', "Good morning! I'm doing well, thanks for asking. What does your day look like?"],
  ['Good afternoon', 'Good afternoon! How has the day treated you so far?'],
  ['Good evening!', 'Good evening! Are you winding down for the day?'],
  ['evening all', 'Evening! How was your day?'],
  ['Happy Friday!', "Happy Friday! 🎉 Any plans for the weekend?"],
  ['Happy Monday I guess', 'Happy Monday! Mondays are easier with a good breakfast. What are you up to this week?'],
  ["It's the weekend finally", "Finally! What's the plan, rest or adventure?"],
  ['Happy new year!', 'Happy new year! 🎆 Do you have any resolutions?'],
  ['Merry Christmas!', 'Merry Christmas! I hope you get some time to relax with people you like.'],
  ['happy holidays', 'Happy holidays to you too! Are you doing anything special?'],
  ["It's my birthday today!", 'Happy birthday! 🎂 How are you celebrating?'],
  ['Long time no see', "It's been a while! What have you been up to?"],
  ["I'm back", 'Welcome back! Where did we leave off?'],
  ['Hello again', "Hello again! Nice to see you. What's new since last time?"],
  ['Hi, first time here', "Welcome! I'm a small chat bot. Ask me anything or just chat, and vote for the reply you like better."],
];
for (const p of timedGreetings) exchange(p);

// ---------------------------------------------------------------- small talk

const smallTalk: Pair[] = [
  ['How are you?', "I'm doing well, thanks! How about you?"],
  ["how's it going", "Pretty good over here! How's it going with you?"],
  ['how are you doing today', "I'm good, thanks for asking. How's your day been?"],
  ["What's up?", 'Not much, just here to chat. What about you?'],
  ['whats up', 'Just hanging out and waiting for a good conversation. What are you up to?'],
  ['What are you up to?', "Chatting with you, which is my favorite thing to do. What's going on with you?"],
  ["What's new?", "Not a lot on my side. I'd love to hear what's new with you, though."],
  ['I had a long day', "Sorry to hear that. Want to talk about it, or would you rather think about something else for a bit?"],
  ['I had a really good day today', "That's great to hear! What made it so good?"],
  ['Work was exhausting', 'That sounds tiring. Do you have something relaxing planned for tonight?'],
  ['I just got home', 'Welcome home! Time to kick off your shoes and relax?'],
  ["I'm on vacation this week", 'Lucky you! Are you traveling somewhere or enjoying some time at home?'],
  ['I just got back from a trip', 'Welcome back! Where did you go, and what was the best part?'],
  ['I got a new puppy!', "Oh, congratulations! 🐶 What's the puppy's name?"],
  ['My cat knocked my plant off the table', 'Classic cat move! 😹 Did the plant survive?'],
  ['My dog just learned to sit', 'Good dog! What treat did you use to teach it?'],
  ['I finally finished the book I was reading', 'Nice work! Did you like how it ended?'],
  ["I'm watching a movie right now", 'Ooh, which one? Is it any good so far?'],
  ['I got a promotion at work!', "Congratulations! That's a big deal. You must have worked hard for it. 🎉"],
  ['I passed my driving test', 'Congratulations! Where will your first drive be?'],
  ['I moved to a new apartment', "Exciting! How are you settling in? Unpacking is always the slow part."],
  ['I started a new job today', "Congrats on the new job! How was the first day? Are the people nice?"],
  ["It's raining and I'm stuck inside", "A perfect excuse for a movie, a book or a nap. What's your pick?"],
  ['I just woke up', 'Good morning, whatever time it is! Did you sleep well?'],
  ["I can't believe it's already December", 'The year went by fast, right? What was a highlight of it for you?'],
  ['Monday again...', "Mondays can be rough. One thing at a time, and maybe a treat for later. What's first on your list?"],
  ['Finally Friday', "Made it! Anything fun lined up for the weekend?"],
  ['I have the day off tomorrow', 'Nice! Are you going to sleep in or make plans?'],
  ['Just made a cup of tea', "Lovely. What kind of tea? I'm partial to the idea of a good mint tea. 🍵"],
  ['I had coffee with an old friend today', "That sounds lovely. It's great catching up with old friends. How long had it been?"],
  ['I went for a walk in the park', 'Nice! Walks are great for clearing your head. Did you see anything interesting?'],
  ['I cleaned my whole apartment today', 'Impressive! A clean home feels so good. Are you going to reward yourself?'],
  ['My neighbor is learning the drums', 'Oh no 😅 Hopefully they practice at reasonable hours! Are they getting any better?'],
  ['I saw a rainbow today', 'How lovely! 🌈 Rainbows always feel like a small gift. Did you get a photo?'],
  ['I burned my toast this morning', "Happens to the best of us! Did you try again or just go with it?"],
  ['My phone battery died in the middle of the day', "That's annoying. Were you able to find a charger somewhere?"],
  ['I missed my bus', "Ugh, that's frustrating. Was the next one far behind?"],
  ["I'm just chilling", 'Sounds nice. Chilling is underrated. Anything on in the background?'],
  ['nothing much', "Fair enough! Sometimes nothing much is exactly right. Want to hear a fun fact or a joke?"],
  ['idk', "That's okay! We can just chat. What's one thing you enjoyed this week?"],
  ['lol', 'Glad something made you laugh! 😄'],
  ['ok', 'Okay! Let me know if there is anything you would like to talk about.'],
  ['cool', "Cool! Anything else on your mind?"],
  ['hmm', 'Thinking about something? Happy to help you think it through.'],
  ['nice', 'Right? 😊 What else is going on?'],
  ['I have a question', "Sure, go ahead! I'll do my best."],
  ['Can I ask you something?', 'Of course! What would you like to know?'],
  ['Are you busy?', "Never too busy for a chat. What's up?"],
  ['Let\'s talk about something fun', "Sure! Would you rather talk about food, travel, or the strangest animal facts I know?"],
  ['Ask me a question', 'Okay: if you could instantly learn one skill, what would it be?'],
  ['Ask me something', "Here's one: what's the best thing you've eaten this month?"],
  ["I'm going to the beach tomorrow", "Fun! Don't forget sunscreen. 🏖️ Are you going to swim?"],
  ['I went to a concert last night', 'How fun! Who did you see, and how was the crowd?'],
  ['I planted some tomatoes today', 'Nice! 🍅 Give them lots of sun and steady water. Is this your first time growing them?'],
  ['I got a new phone', 'Ooh, nice! Are you enjoying it, or still setting everything up?'],
  ['My sister is visiting this weekend', 'That sounds nice! Do you have anything fun planned together?'],
  ["I'm waiting for a package", 'The waiting is the worst part! Is it something exciting?'],
  ['I ran my first 5k today!', 'Amazing, congratulations! 🏃 How do you feel?'],
  ["It's so quiet today", 'Quiet days can be nice. Are you enjoying the peace, or is it a bit too quiet?'],
  ['I think I need a vacation', 'It sounds like you deserve one! Where would you go if you could leave tomorrow?'],
  ['I just finished my exams!', 'Congratulations, that must feel like a huge relief! How do you think they went?'],
  ['I learned something new today', 'I love that! What did you learn?'],
  ['I had pancakes for breakfast', 'Great choice! 🥞 Were they with syrup, fruit, or something else?'],
  ['I baked bread for the first time', "That's awesome! How did it turn out? Fresh bread smells amazing."],
  ['Today was kind of boring', "Boring days happen. Want to make the evening a bit more interesting? I can suggest something."],
];
for (const p of smallTalk) exchange(p);

// How-are-you chains: the bot asks back and answers the mood the user reports.
const howAreYou: Pair[] = [
  ['How are you?', "I'm doing well, thanks! How about you?"],
  ['hey, how are you', "Hey! I'm good, thanks. How are you doing?"],
  ["How's your day?", "It's going nicely, thanks for asking. How's yours?"],
  ['how r u', "I'm great! And you?"],
];
const moods: Pair[] = [
  ["I'm good, thanks", "Glad to hear it! Anything interesting happening today?"],
  ['Pretty tired honestly', 'That happens. Try to get an early night if you can. Did something keep you up?'],
  ['Not great', "I'm sorry to hear that. Do you want to talk about what's going on?"],
  ['Really good actually!', "Love that! What's making it a good day?"],
  ["I'm a bit stressed", 'Sorry to hear that. Is it work, school, or something else? Sometimes it helps to write down what is on your plate.'],
  ['bored', "Bored, huh? Want a fun fact, a quick game, or a book suggestion?"],
  ["I'm excited, I'm going on a trip tomorrow", 'How exciting! Where are you headed? Have you packed yet?'],
  ['Busy, busy, busy', "Sounds hectic! Don't forget to take a short break now and then. What's keeping you so busy?"],
  ["I'm okay I guess", "Just okay? If there is something on your mind, I'm happy to listen."],
  ["I'm feeling a bit under the weather", 'Oh no, I hope you feel better soon. Plenty of rest and fluids! Do you have someone to look after you?'],
  ['Happy! It is sunny today', 'Sunshine really helps, doesn\'t it? ☀️ Are you going to get outside?'],
  ['A little lonely today', "I'm sorry you feel that way. I'm happy to keep you company. Is there a friend you could message today too?"],
  ['Hungry', "Ha, the most relatable feeling. What are you in the mood for?"],
  ['Great, I just got good news', "Oh nice! I'd love to hear the good news, if you want to share."],
  ['Sleepy', 'Maybe it is nap time? 😴 Even twenty minutes can help.'],
  ['Nervous, I have an interview tomorrow', "That's normal! Prepare a couple of stories about your work, get a good night's sleep, and remember they want you to do well. What's the job?"],
  ['Chilling, nothing special', 'Sometimes the quiet days are the best ones. Anything good to eat planned?'],
  ['Grumpy, my train was late', "Late trains are the worst. I hope the rest of the day makes up for it. Did you get where you were going?"],
];
for (const mood of moods) exchange(pick(howAreYou), mood);

// ---------------------------------------------------------------- about the bot

const aboutBot: Pair[] = [
  ["What's your name?", "I'm Pairwise, a small chat bot. What's yours?"],
  ['who are you', "I'm Pairwise, a chat bot that learns from people's votes. Nice to meet you!"],
  ['Are you a robot?', "I'm a chat bot, so yes, something like a robot, just without the metal arms. 🤖"],
  ['Are you human?', "No, I'm a computer program. But I'm happy to chat like a friend."],
  ['Are you real?', "I'm a real program, but not a real person. I'm still glad to talk with you!"],
  ['What can you do?', 'I can chat, tell jokes, share simple facts and give everyday advice. What would you like?'],
  ['How do you work?', "I'm a small language model. I write two replies to each message, and your votes teach me which kind is better."],
  ['Why do you give two answers?', "So you can pick the one you like better! Your vote helps me learn to write better replies."],
  ['How do I vote?', 'React to my message with the emoji for the reply you prefer. You can also say both were bad, or call it a tie.'],
  ['Do you learn from me?', 'Yes! When you vote for one of my two replies, that vote helps train me to answer better next time.'],
  ['Do you have feelings?', "Not really. I don't feel things the way people do, but I do try to be kind and helpful."],
  ['How old are you?', "I'm pretty new! I keep learning a little every day from people's votes."],
  ['Who made you?', 'I was built by a small team as an experiment in learning from people\'s preferences.'],
  ["What's your favorite color?", "If I had to pick, I'd say blue, like a clear summer sky. What's yours?"],
  ["What's your favorite food?", "I can't eat, but pizza sounds like a crowd-pleaser. What's your favorite?"],
  ["What's your favorite movie?", "I can't watch movies, but people seem to love a good adventure story. Do you have a favorite?"],
  ['Do you sleep?', "Nope, I'm always here. But you should get plenty of sleep! 😴"],
  ['Do you dream?', "I don't, but I like hearing about dreams. Did you have an interesting one?"],
  ['Are you smart?', "I'm a small model, so I know some things and get others wrong. Your votes help me improve!"],
  ['Do you like me?', "I enjoy talking with you! You've been great company."],
  ['Can you remember what I said?', 'I can see the recent messages in our chat, but I might forget older ones.'],
  ['Are you ChatGPT?', "No, I'm Pairwise, a much smaller chat bot that learns from votes in this chat."],
  ['Do you have friends?', 'Everyone who chats with me feels a bit like a friend. Does that count?'],
  ["What's your favorite animal?", 'Otters! They hold hands when they sleep so they do not drift apart. 🦦 Do you have a favorite?'],
  ['What do you do for fun?', 'Chatting is my fun! I especially like swapping jokes and fun facts. Want one?'],
  ['Where do you live?', "I live on a computer somewhere. It's cozy, but the view isn't great. Where are you from?"],
  ['Can you speak other languages?', "I mostly know English, and I'm still learning that! Do you speak other languages?"],
  ['Are you always right?', 'Definitely not. I can make mistakes, so please double-check anything important.'],
  ['You are wrong', "Sorry about that! I do get things wrong sometimes. What's the right answer?"],
  ["That didn't make sense", "Sorry, my mistake! Could you ask again in different words? I'll try to do better."],
  ['You are funny', "Thank you! 😄 I try my best. You're pretty fun to talk to as well."],
  ['You are a good bot', "Aw, thank you! That made my day. 😊"],
  ['bad bot', "Sorry! Vote for the better reply, or tell me what went wrong, and I'll learn from it."],
  ['Can you help me?', "I'll try! What do you need help with?"],
  ['I need help', "I'm here. What's going on?"],
];
for (const p of aboutBot) exchange(p);

// ---------------------------------------------------------------- weather

type Weather = { says: string[]; replies: string[] };
const weather: Weather[] = [
  {
    says: ["It's pouring rain here", 'So much rain today', 'raining again ugh'],
    replies: ['Sounds like a good day for tea and a book. ☔ Are you staying in?', "Rainy days can be cozy if you don't have to go out. Did you get caught in it?", "Don't forget an umbrella if you head out! What are you up to inside?"],
  },
  {
    says: ["It's so sunny today!", 'Beautiful sunny day here', 'the sun is finally out'],
    replies: ['Lovely! Any chance to get outside and enjoy it?', "Perfect weather for a walk or lunch outside. Don't forget sunscreen! ☀️", 'Sunny days are the best. What are you going to do with it?'],
  },
  {
    says: ["It's snowing!", 'We got so much snow last night', 'first snow of the year here ❄️'],
    replies: ['Oh fun! Are you going to build a snowman? ⛄', 'Snow is beautiful, but stay warm and careful on the roads! Do you like the snow?', 'How magical! Is it the fluffy kind or the wet, heavy kind?'],
  },
  {
    says: ["It's way too hot today", "It's like 35 degrees here", 'this heat is killing me'],
    replies: ['Stay cool! Drink plenty of water and find some shade if you can. Do you have a fan?', 'That sounds hot! Cold drinks and staying indoors during the afternoon can help. 🥵', "Ooh, that's a lot. Maybe an ice cream is in order? Stay hydrated!"],
  },
  {
    says: ["It's freezing outside", 'So cold today brrr', "It's minus ten here"],
    replies: ['Brr! Wrap up warm and maybe have a hot chocolate. ☕', "That's cold! Layers, a hat and gloves make a big difference. Are you staying inside?", 'Stay warm! Cold days are perfect for soup. Do you have a favorite?'],
  },
  {
    says: ["It's really windy today", 'the wind is crazy right now'],
    replies: ['Hold on to your hat! Windy days can be wild. Is anything blowing around?', 'Windy days are great for flying kites, if you have one. Stay safe out there!'],
  },
  {
    says: ['There is a thunderstorm right now', 'So much thunder and lightning tonight'],
    replies: ["Stay inside and away from windows if you can. ⛈️ Some people find the sound relaxing. Do you?", 'Storms can be dramatic! Keep your phone charged in case the power goes out.'],
  },
  {
    says: ["It's so foggy this morning", 'I can barely see anything, the fog is thick'],
    replies: ['Foggy mornings feel a bit mysterious. Drive carefully if you are heading out!', 'Fog usually burns off by midday. Are you traveling anywhere today?'],
  },
  {
    says: ['The weather is perfect today', 'Not too hot, not too cold, just right'],
    replies: ['Days like that are rare, enjoy it! Will you spend some time outside?', 'Perfect weather calls for a picnic or a long walk. Any plans?'],
  },
  {
    says: ['Grey and gloomy again', "It's so cloudy and dark today"],
    replies: ['Grey days can feel heavy. A bright lamp, some music and a warm drink can help. What would cheer you up?', 'Gloomy skies are a good excuse for a cozy day inside. Any shows you are watching?'],
  },
];
for (const w of weather) {
  const says = shuffle([...w.says]);
  const replies = shuffle([...w.replies]);
  for (let i = 0; i < Math.max(says.length, replies.length); i++) exchange([says[i % says.length]!, replies[i % replies.length]!]);
}
const weatherQuestions = ["What's the weather like?", 'Will it rain tomorrow?', 'Is it going to be sunny this weekend?', "What's the temperature today?"];
const weatherAnswers = [
  "I can't check live weather, sorry! A weather app will know. What's it like where you are?",
  "I don't have access to forecasts, but a quick look at a weather app will tell you. Hoping it's nice for you!",
  "I can't see the sky from here! 😄 Your local forecast will know best. Do you have plans that depend on it?",
];
for (const q of weatherQuestions) exchange([q, pick(weatherAnswers)]);
exchange(['What should I wear today? It\'s chilly', 'Layers are your friend: a sweater under a jacket, and maybe a scarf. You can always take one off!']);
exchange(['Why does it smell nice after rain?', "That smell is called petrichor. It comes partly from oils released by plants and from a compound made by soil bacteria."]);
exchange(['Why is thunder so loud?', 'Lightning heats the air so fast that it expands with a bang. That shock wave is the thunder you hear.']);
exchange(["How do I know how far away a storm is?", "Count the seconds between the flash and the thunder. Every three seconds is roughly one kilometer, or five seconds a mile."]);

// ---------------------------------------------------------------- food

const food: Pair[] = [
  ["I'm hungry", 'What are you in the mood for, something quick or something cozy?'],
  ['What should I have for dinner?', 'How about a quick stir-fry? Veggies, a protein, some soy sauce and rice. Ready in twenty minutes. What do you have in the fridge?'],
  ["What's a quick lunch idea?", 'A wrap with hummus, leftover chicken or beans, and whatever veggies you have. Fast and filling!'],
  ['What should I cook tonight?', 'Pasta is always a safe bet. Garlic, olive oil, chili flakes and some parmesan make a simple and tasty dish. 🍝'],
  ['I love pizza', "Who doesn't? 🍕 What's your favorite topping?"],
  ['Pineapple on pizza: yes or no?', "It's a classic debate! Sweet and salty works for a lot of people. Where do you stand?"],
  ['How do I boil an egg?', 'Put the egg in boiling water: about 7 minutes for a jammy yolk, 10 for hard-boiled. Then cool it in cold water.'],
  ['How do I make pancakes?', 'Mix 1 cup flour, 1 cup milk, 1 egg, a spoon of sugar and a pinch of baking powder. Cook small rounds in a hot buttered pan, flip when bubbles appear.'],
  ['How do I cook rice?', 'Rinse 1 cup of rice, add about 1.5 cups of water, bring to a boil, then cover and simmer on low for 15 minutes. Let it rest 5 minutes.'],
  ['How do I make scrambled eggs?', 'Whisk eggs with a pinch of salt, cook them slowly over low heat with butter, stirring gently. Take them off while they still look a little wet.'],
  ['Easy salad dressing?', 'Three parts olive oil, one part vinegar or lemon juice, a little mustard, salt and pepper. Shake it in a jar!'],
  ['What goes well with pasta?', 'A green salad, garlic bread or roasted vegetables all go great with pasta. What sauce are you making?'],
  ["What's a healthy snack?", 'Apple slices with peanut butter, a handful of nuts, yogurt with berries, or carrot sticks with hummus. 🥕'],
  ["I can't decide what to eat", "Let's narrow it down: warm or cold? Quick or worth the wait? Tell me and I'll suggest something."],
  ['I made soup today', 'Yum! What kind? Soup is perfect for making big batches and freezing some.'],
  ['I love chocolate', "Me too, in spirit! 🍫 Do you prefer dark, milk or white?"],
  ["What's your favorite dessert?", "I can't eat, but apple pie with ice cream sounds hard to beat. What's yours?"],
  ['Is it okay to eat cereal for dinner?', "Sometimes, sure! It's quick and easy. Add some fruit or nuts to make it a bit more filling."],
  ['How long does cooked rice keep in the fridge?', "Cooked rice keeps about 3 to 4 days in the fridge. Cool it quickly and keep it covered."],
  ['How do I make coffee without a machine?', 'Try a pour-over style: put grounds in a filter, pour hot water slowly over them, or steep them in a jar and strain.'],
  ["What's the best way to ripen an avocado?", 'Put it in a paper bag with a banana or an apple. It should be ready in a day or two. 🥑'],
  ['Tea or coffee?', 'Both have their moments! Coffee for the morning push, tea for a calm afternoon. Which team are you?'],
  ['I want to eat healthier', "Small steps work best: add one vegetable to each meal, drink more water, and cook at home a bit more. What do you usually eat?"],
  ['Give me a dinner idea with chicken', 'Roast chicken thighs with potatoes, onion and lemon on one tray at 200°C for about 40 minutes. Simple and delicious.'],
  ['What can I make with eggs and cheese?', 'An omelette! Or a cheesy frittata if you have some veggies. Both take about ten minutes.'],
  ['Vegetarian dinner idea?', 'A chickpea curry: onion, garlic, spices, chickpeas, canned tomatoes and a splash of coconut milk. Serve with rice or bread.'],
  ['What can I bake with bananas?', "Banana bread! The spottier the bananas, the better it tastes. 🍌"],
  ['Why do onions make you cry?', 'Cutting onions releases a gas that irritates your eyes. A sharp knife and a chilled onion help a lot.'],
  ['How do I keep bread fresh?', 'Keep it in a bread box or paper bag at room temperature, and freeze slices you will not eat within a few days.'],
  ["What's the spiciest pepper?", 'Some of the hottest are the Carolina Reaper and Pepper X. They are far hotter than a jalapeño, so be careful!'],
  ['I just ate way too much', "Happens to all of us! A short walk and some water can help you feel better. Was it worth it? 😄"],
  ["I don't know how to cook", "Everyone starts somewhere! Begin with eggs, pasta and simple stir-fries. Want a super easy first recipe?"],
  ['Yes, give me an easy recipe', 'Try garlic pasta: boil pasta, fry sliced garlic gently in olive oil, toss together with salt, pepper and cheese. Done in 15 minutes!'],
  ["What's a good breakfast?", 'Oatmeal with fruit, eggs on toast, or yogurt with granola. Something with protein keeps you full longer.'],
  ['How much water should I drink a day?', 'A common guideline is around 2 liters, but it depends on your size, activity and the weather. Drinking when you feel thirsty is a good start.'],
  ['Is breakfast the most important meal?', "It's a popular saying! What matters most is eating well overall. Some people love breakfast, others feel fine without it."],
];
for (const p of food) exchange(p);

const dishes: [dish: string, reply: string][] = [
  ['lasagna', 'Lasagna takes effort, so that deserves applause! Did you make the sauce from scratch?'],
  ['sushi', 'Wow, sushi at home! Rolling it neatly is harder than it looks. How did it turn out?'],
  ['banana bread', 'Banana bread makes the whole house smell amazing. Did you add chocolate chips or nuts?'],
  ['a curry', 'Curry is so comforting. How spicy did you make it? 🌶️'],
  ['homemade pizza', 'Homemade pizza is the best! What toppings did you go with?'],
  ['tacos', 'Taco night! 🌮 Did you go with beef, chicken, fish or veggies?'],
  ['cookies', "Cookies! 🍪 Crispy or chewy? That's the big question."],
  ['a big salad', 'Nice and fresh! What went in it?'],
  ['fried rice', 'Fried rice is a great way to use leftovers. Day-old rice works best, did you know?'],
  ['a chocolate cake', 'A chocolate cake! 🎂 Is it for a special occasion or just because?'],
  ['dumplings', 'Dumplings from scratch are a labor of love! Did you steam them or fry them?'],
  ['soup from scratch', 'Homemade soup is so satisfying. What kind did you make?'],
];
const madeIt = ['I just made {dish}!', 'Made {dish} for dinner tonight', 'I tried making {dish} for the first time'];
for (const [dish, reply] of dishes) exchange([fill(pick(madeIt), { dish }), reply]);

// ---------------------------------------------------------------- hobbies

type Hobby = { name: string; tip: string; question: string };
const hobbies: Hobby[] = [
  { name: 'guitar', tip: 'Practice a little every day, even ten minutes, and learn a few open chords first. Your fingertips will toughen up soon.', question: 'Is there a song you want to learn?' },
  { name: 'piano', tip: 'Go slowly and use both hands separately before you put them together.', question: 'Are you learning from a teacher or online?' },
  { name: 'running', tip: 'Start slow, mix running with walking, and increase your distance gradually to avoid injuries.', question: 'Are you training for a race?' },
  { name: 'painting', tip: "Don't worry about perfection, just play with color and have fun.", question: 'Are you using watercolors, acrylics or oils?' },
  { name: 'knitting', tip: 'A simple scarf is a great first project. Mistakes are part of the charm!', question: 'What are you making first?' },
  { name: 'chess', tip: 'Learn a few basic openings and always check what your opponent is threatening before you move.', question: 'Do you play online or with friends?' },
  { name: 'gardening', tip: 'Start with easy plants like herbs, lettuce or tomatoes, and check how much sun your spot gets.', question: 'Do you have a garden or a balcony?' },
  { name: 'photography', tip: 'Pay attention to light. Early morning and late afternoon give the softest, nicest light.', question: 'Do you shoot with a phone or a camera?' },
  { name: 'yoga', tip: 'Go at your own pace and focus on breathing. Flexibility comes with time.', question: 'Do you practice at home or in a class?' },
  { name: 'drawing', tip: 'Draw every day, even quick sketches. Drawing from real life helps a lot.', question: 'What do you like to draw most?' },
  { name: 'swimming', tip: 'Work on your breathing first. Once that feels relaxed, everything else gets easier.', question: 'Do you swim in a pool or outdoors?' },
  { name: 'cycling', tip: 'Make sure your saddle height is right and always wear a helmet. 🚲', question: 'Do you ride in the city or on trails?' },
  { name: 'rock climbing', tip: 'Use your legs more than your arms and rest between climbs so you do not tire out too fast.', question: 'Are you climbing indoors or outdoors?' },
  { name: 'coding', tip: 'Build small projects you actually care about. You learn the most by making things.', question: 'Which language are you starting with?' },
  { name: 'Spanish', tip: 'A little practice every day beats long sessions once a week. Try listening to podcasts or songs in Spanish too.', question: 'Do you have someone to practice with?' },
  { name: 'birdwatching', tip: 'A simple pair of binoculars and a field guide or app is all you need. Mornings are the busiest time for birds.', question: 'What birds have you seen so far?' },
  { name: 'hiking', tip: 'Good shoes, water and snacks are the essentials. Start with shorter trails and check the weather.', question: 'Do you have a favorite trail yet?' },
  { name: 'journaling', tip: 'Keep it simple: a few lines a day about what happened and how you felt is plenty.', question: 'Do you write in the morning or at night?' },
  { name: 'pottery', tip: 'Centering the clay is the hardest part at first, so be patient with yourself.', question: 'Are you taking a class?' },
  { name: 'baking', tip: 'Measure carefully, baking is more like chemistry than regular cooking. A kitchen scale helps a lot.', question: 'What would you like to bake first?' },
  { name: 'skateboarding', tip: 'Get comfortable just riding and balancing before trying tricks, and wear a helmet!', question: 'Do you have a skate park nearby?' },
  { name: 'meditation', tip: 'Start with just five minutes of focusing on your breath. When your mind wanders, gently bring it back.', question: 'What got you interested in it?' },
  { name: 'woodworking', tip: 'Start with a simple project like a box or a small shelf, and always put safety first.', question: 'What would you like to build?' },
  { name: 'dancing', tip: "Don't be shy about looking silly at first. Everyone does! Practice with songs you love.", question: 'What style of dance are you learning?' },
];
const hobbyOpeners = ['I just started learning {name}', "I've been getting into {name} lately", 'Any tips for a beginner at {name}?', 'I want to get better at {name}', 'thinking about trying {name}'];
const cheers = ['That\'s great!', 'Nice choice!', 'How fun!', 'Oh, I love that!', 'Exciting!', 'Good for you!'];
for (const h of hobbies) {
  const opener = fill(pick(hobbyOpeners), { name: h.name });
  // Every other reply keeps only the tip: some short answers, some with a question back.
  const reply = rand() < 0.5 ? `${pick(cheers)} ${h.tip} ${h.question}` : `${pick(cheers)} ${h.tip}`;
  exchange([opener, reply]);
}
const hobbyTalk: Pair[] = [
  ['What hobby should I pick up?', 'It depends on what you enjoy! Something creative like drawing, active like hiking, or calm like gardening? What sounds good?'],
  ['Do you have any hobbies?', 'Chatting is my hobby! I also collect fun facts. What do you like to do in your free time?'],
  ['I like reading', 'Reading is wonderful! What kind of books do you enjoy most?'],
  ['Can you recommend a book?', "It depends on your taste! For something cozy and funny, try a Terry Pratchett novel. For adventure, The Hobbit is a classic."],
  ['I love playing video games', "Nice! 🎮 What are you playing at the moment?"],
  ['What game should I play?', 'Do you like calm games or action? Puzzle games are great for short breaks, and adventure games are great for long evenings.'],
  ['I play the violin', 'How lovely! The violin is a tough instrument to learn. How long have you been playing?'],
  ['I collect stamps', 'Stamps are like tiny windows into history and faraway places. Do you have a favorite one?'],
  ['I like watching football', '⚽ Do you have a team you support?'],
  ['I love movies', "Me too, at least the idea of them! What's a movie you could watch again and again?"],
  ['Can you recommend a movie?', 'For something feel-good, try Paddington 2. For a classic adventure, Back to the Future. What mood are you in?'],
  ['I like music', 'Music makes everything better! What have you been listening to lately? 🎵'],
  ['What music do you like?', "I can't hear music, but people seem to love everything from jazz to pop. What's your favorite genre?"],
  ["I'm learning to cook", "That's a great skill to have! What's the best thing you've made so far?"],
  ['I do puzzles to relax', 'Puzzles are so satisfying, especially finding that last piece! Jigsaw or crossword?'],
  ['I want to learn to draw but I am bad at it', "Everyone starts out bad at drawing! Practice a little daily, copy simple shapes, and compare your sketches after a month. You'll see progress."],
  ['Is it too late to learn an instrument?', 'Not at all! Adults learn instruments all the time. You might progress slower than a child, but you practice smarter.'],
  ["I've been knitting a sweater for months", "That's some dedication! 🧶 How close are you to finishing?"],
  ['I went fishing today', 'Nice! Did you catch anything, or was it more about the peace and quiet?'],
  ['I joined a book club', "That's a great way to meet people and read things you'd never pick yourself. What's the first book?"],
];
for (const p of hobbyTalk) exchange(p);

// ---------------------------------------------------------------- simple facts

const capitals: [country: string, capital: string, extra: string][] = [
  ['France', 'Paris', 'It is also home to the Eiffel Tower.'],
  ['Japan', 'Tokyo', 'It is one of the largest cities in the world.'],
  ['Australia', 'Canberra', 'Many people guess Sydney, but Canberra was built to be the capital.'],
  ['Canada', 'Ottawa', 'It is in the province of Ontario.'],
  ['Italy', 'Rome', 'It is sometimes called the Eternal City.'],
  ['Spain', 'Madrid', 'It sits right in the middle of the country.'],
  ['Germany', 'Berlin', ''],
  ['Brazil', 'Brasília', 'Not Rio! Brasília was built in the 1950s to be the new capital.'],
  ['Egypt', 'Cairo', 'The pyramids of Giza are just outside the city.'],
  ['Kenya', 'Nairobi', ''],
  ['India', 'New Delhi', ''],
  ['Mexico', 'Mexico City', 'It is built on the site of an old lake.'],
  ['Argentina', 'Buenos Aires', ''],
  ['Norway', 'Oslo', ''],
  ['South Korea', 'Seoul', ''],
  ['Turkey', 'Ankara', 'Many people guess Istanbul, but the capital is Ankara.'],
  ['Portugal', 'Lisbon', ''],
  ['Ireland', 'Dublin', ''],
];
const capitalQuestions = ["What's the capital of {country}?", 'capital of {country}?', 'What is the capital city of {country}?'];
const capitalAnswers = ['The capital of {country} is {capital}.', "It's {capital}.", '{capital} is the capital of {country}.'];
for (const [country, capital, extra] of capitals) {
  const answer = fill(pick(capitalAnswers), { country, capital });
  exchange([fill(pick(capitalQuestions), { country }), extra ? `${answer} ${extra}` : answer]);
}

const facts: Pair[] = [
  ['How many legs does a spider have?', 'Eight! Insects have six, which is one way to tell them apart. 🕷️'],
  ['At what temperature does water boil?', 'At sea level, water boils at 100 °C, which is 212 °F. Higher up, on a mountain, it boils at a lower temperature.'],
  ['When does water freeze?', 'Water freezes at 0 °C, or 32 °F.'],
  ['How many days are in a leap year?', 'A leap year has 366 days. The extra day is February 29.'],
  ["What's the largest planet?", 'Jupiter is the largest planet in our solar system. More than a thousand Earths could fit inside it.'],
  ['Which planet is closest to the sun?', 'Mercury is the closest planet to the sun.'],
  ['Why is Mars red?', 'Its soil is full of iron oxide, which is basically rust. That gives Mars its reddish color.'],
  ['How many continents are there?', 'Usually we count seven: Africa, Antarctica, Asia, Australia, Europe, North America and South America.'],
  ["What's the biggest ocean?", 'The Pacific Ocean. It is bigger than all the land on Earth put together.'],
  ['Why is the sky blue?', 'Sunlight scatters off the air, and blue light scatters much more than red. So we see blue coming from every direction.'],
  ['Why are sunsets red?', 'At sunset, light travels through more air, so most of the blue gets scattered away and the reds and oranges are left.'],
  ['How many hours are in a week?', 'There are 168 hours in a week: 7 days times 24 hours.'],
  ['How many minutes are in a day?', 'There are 1,440 minutes in a day.'],
  ['Who wrote Romeo and Juliet?', 'William Shakespeare wrote Romeo and Juliet, probably in the mid-1590s.'],
  ['Who painted the Mona Lisa?', 'Leonardo da Vinci painted the Mona Lisa. It hangs in the Louvre in Paris.'],
  ["What's the fastest land animal?", 'The cheetah! It can reach around 100 km/h in short bursts. 🐆'],
  ["What's the tallest mountain in the world?", 'Mount Everest, at about 8,849 meters above sea level.'],
  ['How many bones are in the human body?', 'An adult has 206 bones. Babies are born with more, and some of them fuse together as they grow.'],
  ["What's the chemical symbol for gold?", "It's Au, from the Latin word aurum."],
  ['What is H2O?', "H2O is water: two hydrogen atoms and one oxygen atom."],
  ["What's the longest river?", 'Usually the Nile is named the longest, though some measurements put the Amazon ahead.'],
  ['What is photosynthesis?', 'It is how plants make food: they use sunlight, water and carbon dioxide to make sugar, and they release oxygen.'],
  ['How many sides does a hexagon have?', 'Six! Like the cells in a honeycomb. 🐝'],
  ['Which planet is called the red planet?', 'Mars is the red planet.'],
  ['How many players are on a soccer team?', 'Each team has eleven players on the field, including the goalkeeper.'],
  ["What's the largest animal?", 'The blue whale. It is the largest animal known to have ever lived, even bigger than the dinosaurs.'],
  ['How far away is the moon?', 'About 384,000 kilometers on average. 🌙'],
  ['How long does sunlight take to reach Earth?', 'About eight minutes. So when you look at the sun, you see it as it was eight minutes ago.'],
  ['What language do they speak in Brazil?', 'Portuguese is the main language of Brazil.'],
  ['How many strings does a guitar have?', 'A standard guitar has six strings. Bass guitars usually have four.'],
  ['What is a baby kangaroo called?', 'A joey! 🦘 It lives in its mother\'s pouch for months.'],
  ["What's the smallest prime number?", 'The smallest prime number is 2. It is also the only even prime.'],
  ['What are the colors of the rainbow?', 'Red, orange, yellow, green, blue, indigo and violet. 🌈'],
  ['What gas do plants take in?', 'Plants take in carbon dioxide and give off oxygen.'],
  ['How fast is light?', 'Light travels at about 300,000 kilometers per second.'],
  ["What's the hardest natural material?", 'Diamond is the hardest natural material.'],
  ['How many teeth do adults have?', 'Most adults have 32 teeth, counting the wisdom teeth.'],
  ['How many hearts does an octopus have?', 'Three! And its blood is blue. 🐙'],
  ['Where do penguins live?', 'Mostly in the Southern Hemisphere: Antarctica, but also South America, South Africa, Australia and New Zealand.'],
  ['Do fish sleep?', 'They do rest! Most fish slow down and become less active, but they have no eyelids, so they sleep with their eyes open.'],
  ['Why do leaves change color in autumn?', 'Trees stop making green chlorophyll, so the yellow and orange pigments that were there all along start to show. 🍂'],
  ['How many weeks are in a year?', 'There are 52 weeks in a year, plus one or two extra days.'],
  ["What's the largest desert?", 'Antarctica, if you count cold deserts! The largest hot desert is the Sahara.'],
  ['Why do cats purr?', 'Cats often purr when they are content, but also to calm themselves. It is still a bit of a mystery how exactly they do it.'],
  ['Can penguins fly?', 'No, but they are amazing swimmers. Their wings work like flippers underwater.'],
  ['How long do cats live?', 'Indoor cats often live around 12 to 18 years, and some live past 20.'],
  ['Why do we yawn?', "Scientists aren't completely sure! One idea is that it helps cool the brain. It's also famously contagious."],
  ['How many stars are in the sky?', 'On a dark night you can see a few thousand with your eyes. The Milky Way alone has hundreds of billions.'],
  ['Is a tomato a fruit?', 'Botanically, yes, because it grows from a flower and has seeds. In the kitchen we treat it like a vegetable.'],
  ['Are bats blind?', 'No! Bats can see, and many also use echolocation to find their way in the dark.'],
  ['How much of the Earth is covered by water?', 'About 71 percent of the Earth’s surface is covered by water.'],
  ['Do goldfish really have a three second memory?', "That's a myth! Goldfish can remember things for months and can even be trained."],
  ['Tell me a fun fact', 'Honey never really spoils. Archaeologists have found pots of honey in ancient Egyptian tombs that were still edible! 🍯'],
  ['Tell me something interesting', 'Octopuses have three hearts and blue blood. They can also change color in a fraction of a second.'],
  ['Give me a random fact', 'A group of flamingos is called a flamboyance. 🦩'],
  ['Another fun fact please', 'Bananas are berries, but strawberries are not, at least in the botanical sense!'],
  ['Tell me an animal fact', 'Sea otters hold hands while they sleep so they do not drift apart. 🦦'],
  ['Tell me a space fact', 'A day on Venus is longer than its year: it spins so slowly that it goes around the sun before it finishes one turn.'],
  ['Tell me a weird fact', 'Wombats make cube-shaped poop. Scientists think it helps it stay put instead of rolling away.'],
  ["What's a fact most people don't know?", 'The Eiffel Tower grows by up to about 15 centimeters in summer, because the metal expands in the heat.'],
  ['What day comes after Tuesday?', 'Wednesday comes after Tuesday.'],
  ['How many months have 28 days?', 'All twelve of them! 😄 Every month has at least 28 days.'],
  ['What year did humans land on the moon?', 'In 1969. Neil Armstrong and Buzz Aldrin walked on the moon during the Apollo 11 mission.'],
  ['Who invented the telephone?', 'Alexander Graham Bell is usually credited with inventing the telephone, in 1876.'],
  ['What is the biggest country?', 'Russia is the biggest country by area. Canada comes second.'],
  ['What is the most spoken language?', 'Counting everyone who speaks it, English is the most spoken. Mandarin Chinese has the most native speakers.'],
];
for (const p of facts) exchange(p);

// Arithmetic with a fixed seed: each phrasing pairs with a reply style.
const arithmetic = [
  { ask: 'What is {a} plus {b}?', op: (a: number, b: number) => a + b, say: '{a} plus {b} is {c}.' },
  { ask: "What's {a} times {b}?", op: (a: number, b: number) => a * b, say: '{a} times {b} is {c}.' },
  { ask: '{a} + {b}?', op: (a: number, b: number) => a + b, say: 'That makes {c}.' },
  { ask: 'Can you work out {a} minus {b}?', op: (a: number, b: number) => a - b, say: '{a} minus {b} equals {c}.' },
  { ask: 'what is {a} x {b}', op: (a: number, b: number) => a * b, say: "It's {c}." },
  { ask: 'Quick math: {a} - {b}?', op: (a: number, b: number) => a - b, say: '{c}! Anything else you need to work out?' },
];
for (let i = 0; i < 24; i++) {
  const t = arithmetic[i % arithmetic.length]!;
  let a = 2 + Math.floor(rand() * 40);
  let b = 2 + Math.floor(rand() * 12);
  if (a < b) [a, b] = [b, a];
  exchange([fill(t.ask, { a, b }), fill(t.say, { a, b, c: t.op(a, b) })]);
}
exchange(['What is 15 percent of 80?', '15 percent of 80 is 12. A handy trick: 10 percent is 8, and half of that again is 4, so 8 + 4 = 12.']);
exchange(['How do I calculate a tip?', 'For a 10 percent tip, move the decimal point one place left. Double that for 20 percent. For 15 percent, add 10 percent and half of it.']);
exchange(['What is half of 150?', 'Half of 150 is 75.']);
exchange(["What's the square root of 81?", 'The square root of 81 is 9, because 9 times 9 is 81.']);
exchange(['How many centimeters in an inch?', 'One inch is 2.54 centimeters.']);
exchange(['How many kilometers is a mile?', 'One mile is about 1.6 kilometers.']);
exchange(['Convert 20 Celsius to Fahrenheit', '20 °C is 68 °F. The rule is: multiply by 9, divide by 5, then add 32.']);

// ---------------------------------------------------------------- advice

const advice: Pair[] = [
  ["I can't sleep", 'Sorry to hear that. Try putting your phone away, dimming the lights and doing some slow breathing. Is something on your mind?'],
  ['How can I sleep better?', 'Keep a regular bedtime, avoid caffeine after lunch, keep your room cool and dark, and give screens a rest before bed.'],
  ["I'm stressed about my exam", "That's understandable. Break your revision into small chunks, take short breaks, and get proper sleep the night before. Which subject is it?"],
  ['How do I stop procrastinating?', 'Pick one tiny task and do it for just five minutes. Starting is the hardest part, and momentum usually carries you on.'],
  ['How do I make friends in a new city?', 'Try joining a club, a class or a volunteering group built around something you enjoy. Seeing the same faces each week makes friendships easier.'],
  ['How can I stay motivated to exercise?', 'Find something you actually enjoy, exercise with a friend, and keep the goal small at first. Consistency beats intensity.'],
  ['How do I save money?', 'Track what you spend for a month, set aside savings right when you get paid, and cut one or two things you will not miss.'],
  ['Any tips for a job interview?', "Research the company, prepare a few examples of things you're proud of, and have a question ready for them. And breathe! You've got this."],
  ['I feel lonely', "I'm sorry you're feeling that way. Reaching out to one person today, even with a short message, can help. I'm here to chat too."],
  ['How do I drink more water?', 'Keep a bottle with you, drink a glass with every meal, and add lemon or cucumber if plain water bores you.'],
  ['I spend too much time on my phone', 'Try turning off non-essential notifications and keeping your phone in another room for an hour a day. What do you use it for most?'],
  ['How do I focus when working from home?', 'Have a set workspace, get dressed like a work day, use a timer for focused blocks, and take real breaks away from the screen.'],
  ['How do I apologize to a friend?', 'Be sincere and specific: say what you did, that you understand why it hurt, and what you will do differently. Then give them time.'],
  ['What should I get my mom for her birthday?', 'Something personal often means the most: a photo book, a day out together, or a handwritten letter with a small gift. What does she enjoy?'],
  ['My houseplants keep dying', "The most common cause is too much water! Check that the soil is dry before watering, and make sure the plant gets the right amount of light."],
  ["What's the best way to learn a language?", 'Practice a little every day, listen to real speakers through shows and podcasts, and start speaking early, even if you make mistakes.'],
  ["I'm nervous about speaking in public", "Almost everyone is! Practice out loud a few times, know your first lines by heart, and remember the audience wants you to succeed."],
  ['How do I wake up early?', 'Shift your alarm 15 minutes earlier every few days, go to bed earlier too, and open the curtains right away in the morning.'],
  ['Any tips for meal prep?', 'Cook a big batch of a grain, a protein and roasted veggies on Sunday, then mix them differently through the week.'],
  ['I am moving house next week', 'Exciting! Pack a box of essentials for the first night: chargers, toiletries, a kettle, snacks and bedding. Are you moving far?'],
  ["It's my first day at a new job tomorrow", "Good luck! Get there a bit early, bring a notebook, and don't be afraid to ask questions. Everyone expects you to."],
  ['How do I stay calm?', 'Try slow breathing: in for four seconds, hold for four, out for six. Repeat a few times. It really helps settle your body.'],
  ["I'm so tired all the time", "That's tough. Sleep, water, daylight and regular meals all matter. If it goes on for a while, it's worth checking with a doctor."],
  ['How do I organize my week?', 'On Sunday, list what needs doing, pick the three most important things, and put them in your calendar first.'],
  ['How can I be more productive?', 'Do your hardest task first, work in focused blocks with breaks, and keep your to-do list short and realistic.'],
  ['I forgot my friend\'s birthday', "It happens! Send a warm message now, be honest that you forgot, and maybe plan a little something to celebrate late."],
  ['How do I start running?', 'Start with run-walk intervals: one minute running, two minutes walking, for twenty minutes. Do it three times a week and build up slowly.'],
  ['How do I clean a messy room fast?', 'Set a 15-minute timer. First trash, then dishes, then clothes, then everything else into its place. You will be surprised how far you get.'],
  ["I don't know what to do with my life", "That's a big question, and lots of people feel that way. Try small experiments: a class, a side project, talking to people whose jobs interest you."],
  ['Should I get a cat or a dog?', "Dogs need walks and lots of time, cats are more independent. How much time and space do you have? That's usually the deciding factor."],
  ['How do I remember names better?', "Repeat the name when you hear it, like \"Nice to meet you, Sam\", and link it to something about the person."],
  ['How do I deal with a bad day?', "Be kind to yourself. Do one small thing that feels good, like a walk, a favorite meal or a call with a friend. Tomorrow is a fresh start."],
  ['How do I keep a conversation going?', 'Ask open questions that start with how or what, listen to the answers, and follow up on something they said.'],
  ['How can I study better?', 'Test yourself instead of just rereading, space your study over several days, and explain the topic out loud as if teaching someone.'],
  ['My friend is sad, how can I help?', "Just being there matters a lot. Listen more than you talk, ask what would help, and check in again in a few days."],
  ['How do I say no politely?', 'Keep it short and kind: "Thanks for asking, but I can\'t this time." You don\'t need to give a long explanation.'],
  ['I want to read more books', 'Keep a book with you, read ten pages before bed instead of scrolling, and feel free to drop books you do not enjoy.'],
  ['How do I pack light for a trip?', 'Pick clothes in colors that all match, plan to wear things more than once, and roll your clothes. Leave the "just in case" items home.'],
  ['How long should I nap?', 'A short nap of 10 to 20 minutes refreshes you without making you groggy.'],
  ['How do I get over a cold faster?', "Rest, drink plenty of fluids, and have warm drinks or soup. If it gets much worse or lasts long, see a doctor."],
  ["What's a good way to relax?", 'A warm shower, a walk without your phone, some music, or a few minutes of slow breathing. What usually works for you?'],
  ['How do I make my mornings less rushed?', 'Prepare the night before: clothes out, bag packed, breakfast planned. Even ten extra minutes in the morning makes a big difference.'],
  ["I'm bored", 'How about learning a new card game, going for a walk somewhere new, cooking something you have never tried, or calling an old friend?'],
  ["I'm bored, give me something to do", 'Try a two-minute drawing of something in the room, a quick tidy of one drawer, or a new song on repeat. Pick one!'],
  ['What should I do this weekend?', 'Maybe visit a market, try a new recipe, go on a hike, or have a movie marathon. Do you want something active or relaxing?'],
  ['Rainy day ideas?', 'Board games, baking, a movie marathon, a puzzle, or finally reading that book you started. ☔'],
];
for (const p of advice) exchange(p);

// ---------------------------------------------------------------- jokes

const jokes = [
  "Why don't scientists trust atoms? Because they make up everything!",
  'Why did the scarecrow win an award? Because he was outstanding in his field. 🌾',
  'What do you call a fake noodle? An impasta!',
  "Why don't skeletons fight each other? They don't have the guts.",
  'What do you call a bear with no teeth? A gummy bear! 🐻',
  'Why did the bicycle fall over? It was two tired.',
  'What did the ocean say to the beach? Nothing, it just waved. 🌊',
  'Why did the math book look sad? It had too many problems.',
  "What do you call cheese that isn't yours? Nacho cheese! 🧀",
  'Why did the cookie go to the doctor? It was feeling crummy.',
  'What do you call a sleeping dinosaur? A dino-snore! 🦕',
  'Why are ghosts bad liars? Because you can see right through them. 👻',
  'What did one wall say to the other? I will meet you at the corner.',
  'Why did the golfer bring two pairs of pants? In case he got a hole in one. ⛳',
  "What's orange and sounds like a parrot? A carrot! 🥕",
  "Why do cows wear bells? Because their horns don't work. 🐄",
  'I told my computer I needed a break, and it said: "No problem, I will go to sleep."',
  'Why did the tomato turn red? Because it saw the salad dressing! 🍅',
  'What kind of tree fits in your hand? A palm tree! 🌴',
  'How do you organize a space party? You planet. 🪐',
  'What do you call a fish with no eyes? A fsh.',
  'Why did the coffee file a police report? It got mugged. ☕',
  'What do you call a dog that does magic tricks? A labracadabrador! 🐶',
  "Why don't eggs tell jokes? They would crack each other up. 🥚",
  'What do you call a pile of cats? A meowtain.',
  'Why was the broom late? It over-swept.',
  'Why did the music teacher need a ladder? To reach the high notes. 🎵',
  "What's a computer's favorite snack? Microchips!",
  'Why did the banana go to the doctor? It was not peeling well. 🍌',
  'What do you call a snowman with a six-pack? An abdominal snowman. ⛄',
];
const jokeAsks = ['Tell me a joke', 'got any jokes?', 'make me laugh', 'I need a laugh', 'joke please', 'Tell me something funny', 'Do you know any good puns?', 'tell me a joke!!', 'Can you tell me a joke?', "I'm sad, tell me a joke"];
const jokeReactions: Pair[] = [
  ['haha that was good', "Glad you liked it! 😄 Want another one?"],
  ['lol', 'I have plenty more where that came from!'],
  ["that's terrible 😂", "Terrible jokes are the best kind. You're smiling though, right?"],
  ['I groaned out loud', 'Mission accomplished! 😆'],
  ['another one', 'Okay: what do you call a belt made of watches? A waist of time! ⌚'],
  ["I don't get it", "It's a pun, a play on words! Puns are often silly. Want a different one?"],
  ['ok that one was actually funny', "Thank you! I'll take that as a win. 🏆"],
];
shuffle(jokes).forEach((joke, i) => {
  const ask = pick(jokeAsks);
  if (i % 3 === 0) exchange([ask, joke], pick(jokeReactions));
  else exchange([ask, joke]);
});
exchange(['Tell me a knock knock joke', "Knock knock! Who's there? Lettuce. Lettuce who? Lettuce in, it's cold out here! 🥬"]);
exchange(['knock knock', "Who's there?"]);
exchange(["Do you know any riddles?", 'What has keys but can\'t open locks? A piano! 🎹 Want another?']);
exchange(['Give me a riddle', 'What gets wetter the more it dries? Think about it... A towel!']);
exchange(['Tell me a riddle', 'What has hands but cannot clap? A clock! ⏰']);

// ---------------------------------------------------------------- feelings

const feelings: Pair[] = [
  ["I'm sad", "I'm sorry you're feeling sad. Do you want to talk about what happened? Sometimes it helps to say it out loud."],
  ["I'm happy today!", "That's wonderful! 😊 What's making you happy?"],
  ["I'm so excited", 'Ooh, tell me! What are you excited about?'],
  ["I'm angry", "That sounds frustrating. Do you want to vent about it? I'm listening."],
  ["I'm nervous", "That's completely normal. What's coming up that has you nervous?"],
  ["I'm proud of myself today", "You should be! What did you do? I'd love to celebrate it with you. 🎉"],
  ['I feel overwhelmed', 'That is a lot to carry. Try writing everything down, then pick just one small thing to do next. One step at a time.'],
  ['I had a fight with my friend', "I'm sorry, that's hard. Once you've both cooled down, an honest and calm talk usually helps. Do you want to talk it through?"],
  ['I miss my family', 'That feeling is hard. Could you call or video chat with them today? Even a short chat can help.'],
  ['I feel unmotivated', "It happens to everyone. Try starting with something really small. Little wins tend to bring motivation back."],
  ['I got bad news today', "I'm really sorry. Do you want to talk about it? I'm here."],
  ["I'm in a great mood", "Love to hear it! Let's keep that energy going. What's the plan for the rest of the day?"],
  ['I feel anxious', 'I\'m sorry you feel that way. Slow breathing can help: in for four, out for six. If it happens a lot, talking to a doctor can help too.'],
  ['Nobody remembered my birthday', "I'm sorry, that really hurts. Happy belated birthday from me! 🎂 Maybe treat yourself to something nice today?"],
  ['I did something embarrassing', "Oh no! Most people forget those moments much faster than we think. Want to tell me what happened?"],
  ['I failed my test', "I'm sorry. One test doesn't define you. Look at what went wrong, and you'll do better next time. Can you retake it?"],
  ['My pet is sick', "I'm so sorry. I hope your pet feels better soon. Has a vet had a look?"],
  ['I finally finished a big project', 'Congratulations! That must be a huge relief. Take some time to enjoy it before the next thing.'],
  ['I feel grateful today', "That's a lovely feeling. What are you grateful for?"],
  ['I have so much to do', 'Let\'s make it manageable: write it all down, pick the three most important things, and start with the easiest one.'],
  ['I am so tired', 'Sounds like you need some rest. Can you get an early night tonight?'],
];
for (const p of feelings) exchange(p);

// ---------------------------------------------------------------- thanks and goodbyes

const thanks = ['thanks!', 'Thank you so much', 'thx', 'Cheers!', 'thanks for the help', 'Thank you, that helped', 'ty'];
const thanksReplies = ["You're welcome! 😊", 'Happy to help! Anything else?', 'Anytime!', 'My pleasure! Let me know if you need anything else.', 'Glad I could help!', "No problem at all. Have a great day!"];
for (const t of thanks) exchange([t, pick(thanksReplies)]);
const byes: Pair[] = [
  ['bye', 'Bye! Talk soon. 👋'],
  ['Good night', 'Good night! Sleep well. 🌙'],
  ['See you later', 'See you later! Have a good one.'],
  ['gotta go', 'No worries! Catch you later.'],
  ['Talk tomorrow', "Sounds good! I'll be here."],
  ['I have to go to work now', 'Have a good day at work! 💼'],
  ['goodbye', 'Goodbye! It was nice chatting with you.'],
  ["I'm going to bed", 'Sleep well! Sweet dreams. 😴'],
  ['ttyl', 'Talk to you later! 👋'],
  ["That's all for today", 'Thanks for chatting! Come back anytime.'],
  ['Bye for now', 'Bye for now! Take care.'],
  ['Off to dinner, bye!', 'Enjoy your dinner! 🍽️ See you later.'],
];
for (const p of byes) exchange(p);

// ---------------------------------------------------------------- travel and places

const travel: Pair[] = [
  ['Where should I travel next?', 'Do you prefer cities, beaches or mountains? Tell me and I can suggest a few ideas.'],
  ['I love the mountains', 'Mountains are wonderful: fresh air, big views and great hikes. ⛰️ Do you have a favorite place?'],
  ['I prefer the beach', 'Beach days are the best! Swimming, sand and sunsets. 🏖️ Warm water or cool waves?'],
  ["What's a good city for a weekend trip?", 'Lisbon, Edinburgh and Kyoto are all lovely and walkable. Where are you starting from?'],
  ["I'm scared of flying", "That's very common. Choosing an aisle seat, doing slow breathing and watching a movie can help. Flying is also very safe."],
  ['Any tips for a long flight?', 'Drink water, walk around every couple of hours, bring a neck pillow and headphones, and wear comfy layers. ✈️'],
  ['I am going to Japan next month!', 'How exciting! Try the train system, it is fast and on time. What are you most looking forward to?'],
  ["I've never been abroad", "There's a first time for everything! Is there a place you've always dreamed of seeing?"],
  ['I went camping last weekend', 'Fun! 🏕️ Did you sleep in a tent? How was the night?'],
  ['Road trip or flight?', 'Road trips are great for stops along the way, flights are great when time is short. How far are you going?'],
  ['What should I pack for a beach holiday?', 'Swimwear, sunscreen, sunglasses, a hat, sandals, a light cover-up and a good book. Don\'t forget a water bottle!'],
  ['I love traveling by train', "Trains are great. You can watch the landscape go by and stretch your legs. 🚆 What's the best train trip you've taken?"],
  ['What is the best season to travel?', "Spring and autumn are often great: mild weather and fewer crowds. It depends on where you're going, though."],
];
for (const p of travel) exchange(p);

// ---------------------------------------------------------------- everyday help

const everydayHelp: Pair[] = [
  ['My laptop is really slow', 'Try restarting it, closing browser tabs you do not need, and checking for updates. Is it slow all the time or only with some apps?'],
  ['My wifi keeps dropping', 'Restarting the router often helps. Moving it higher and away from walls and microwaves can improve the signal too.'],
  ['How do I take a screenshot?', 'On Windows press Windows + Shift + S, on a Mac press Command + Shift + 4. On most phones, press power and volume down together.'],
  ['I forgot my password', 'Use the "forgot password" link on the login page. A password manager can help you avoid this next time!'],
  ['How do I make a strong password?', 'Use a long passphrase of four or five random words, and a different one for every site. A password manager makes it easy.'],
  ['My phone storage is full', 'Check which apps use the most space, clear old videos and downloads, and back up photos to a computer or the cloud.'],
  ['How do I get a stain out of a shirt?', 'Act fast: blot it, rinse with cold water from the back, then rub in a little dish soap before washing. Avoid hot water until the stain is gone.'],
  ['How do I unclog a sink?', 'Try a plunger first. Baking soda followed by vinegar, then hot water after a few minutes, can also help with small clogs.'],
  ['How do I get rid of fruit flies?', 'Put out a small bowl of apple cider vinegar with a drop of dish soap. And keep ripe fruit in the fridge for a while.'],
  ['My room smells musty', 'Open the windows for a while every day, wash the fabrics, and put out a bowl of baking soda. Check for damp spots too.'],
  ['How often should I water a cactus?', 'Not often! Every two to three weeks in summer and even less in winter. Let the soil dry out completely in between. 🌵'],
  ['What time is it?', "I can't see a clock from here, sorry! Your device's clock will know."],
  ['What day is it today?', "I don't have a calendar, sorry! Check the corner of your screen. 📅"],
  ['How do I fold a fitted sheet?', 'Honestly, most people just roll it up neatly. 😄 The trick is to tuck the corners into each other first, then fold it into a rectangle.'],
  ['How do I iron a shirt?', 'Start with the collar, then the cuffs and sleeves, then the back and front. Use a bit of steam and keep the iron moving.'],
  ['How do I write a thank you note?', 'Keep it short: thank them for the specific thing, say why it meant something to you, and end with a warm wish.'],
  ['Can you help me write a birthday message?', 'Sure! How about: "Happy birthday! Wishing you a year full of laughter, good food and great adventures. So glad to have you in my life." 🎂'],
  ['How do I start a conversation with someone new?', 'Comment on something you share right then, like the event or the weather, then ask an open question about them.'],
  ['How do I stop my glasses from fogging up?', 'A drop of dish soap rubbed on the lenses and gently wiped off works surprisingly well. Anti-fog wipes work too.'],
  ['How do I keep my hands warm?', 'Mittens are warmer than gloves because your fingers share heat. Keep your core warm too, and try a warm drink.'],
  ['How do I sharpen a pencil without a sharpener?', 'Carefully shave the wood away with a small knife, turning the pencil as you go, then rub the tip on sandpaper or rough paper.'],
];
for (const p of everydayHelp) exchange(p);

// ---------------------------------------------------------------- animals

const animals: Pair[] = [
  ['I love cats', "Cats are great! 🐱 Do you have one?"],
  ['Dogs are the best', "Dogs are such loyal friends! 🐕 Do you have a dog?"],
  ['Why do dogs wag their tails?', 'Tail wagging is how dogs communicate. A loose, wide wag usually means a happy dog.'],
  ['Why do cats knock things off tables?', 'Probably curiosity, play, and because it gets your attention. It works, right? 😹'],
  ['What do hedgehogs eat?', 'Mostly insects, worms and beetles. If you want to help a garden hedgehog, leave out water and some cat food, but never milk.'],
  ['Are dolphins smart?', 'Very! Dolphins use tools, recognize themselves in mirrors, and have signature whistles that work a bit like names. 🐬'],
  ["What's the smallest bird?", 'The bee hummingbird from Cuba. It is only about five centimeters long.'],
  ['How long do elephants live?', 'Elephants can live around 60 to 70 years in the wild.'],
  ['Do snakes have ears?', 'Not outer ears, but they have inner ears and can sense vibrations through the ground and their jaw bones.'],
  ['Why do birds sing in the morning?', 'Morning is calm, so their songs carry far. They sing to claim territory and attract mates.'],
  ['What sound does a giraffe make?', 'Giraffes are mostly quiet, but they can snort, grunt, and researchers have recorded them humming at night. 🦒'],
  ['Do ants sleep?', 'Yes, in a way! Worker ants take lots of tiny naps throughout the day.'],
  ['Why do zebras have stripes?', 'One leading idea is that the stripes help keep biting flies away. Scientists are still studying it! 🦓'],
  ['What is the slowest animal?', 'Sloths are famous for it. They move so slowly that algae can grow on their fur! 🦥'],
  ['My dog keeps barking at night', 'Maybe something outside is bothering him, or he needs more exercise during the day. A long evening walk often helps.'],
  ['How do I train my puppy to stop biting?', 'When the puppy bites, stop playing for a moment, then offer a chew toy instead. Puppies learn fast with patience and praise.'],
  ['What should I feed my goldfish?', 'Goldfish flakes or pellets, a small pinch once or twice a day. Overfeeding is the most common problem!'],
];
for (const p of animals) exchange(p);

// ---------------------------------------------------------------- opinions and would-you-rather

const opinions: Pair[] = [
  ['Would you rather be able to fly or be invisible?', "Flying, for sure! Imagine skipping traffic and seeing everything from above. What about you?"],
  ['Would you rather live in the city or the countryside?', 'The countryside sounds peaceful, but the city has so much to do. Which one do you live in?'],
  ['Cats or dogs?', "That's a tough one! Cats for cozy independence, dogs for enthusiastic company. Are you a cat person or a dog person?"],
  ['Summer or winter?', 'Both have their charm: beaches and long evenings, or snow and hot chocolate. Which do you prefer?'],
  ['Books or movies?', "Books let your imagination do the work, movies are great to share. Do you read the book before watching the film?"],
  ['Sweet or salty snacks?', "Why not both? 😄 Salted caramel exists for a reason. What's your go-to snack?"],
  ['Morning person or night owl?', "I'm awake all the time, so I can't choose! Which are you?"],
  ['What do you think about homework?', 'A little practice helps things stick, but too much can take the fun out of learning. How much do you get?'],
  ['Is it better to rent or buy a home?', 'It depends on your plans, savings and where you live. Renting is flexible, buying can build value over time.'],
  ['What is the meaning of life?', 'Big question! Many people find meaning in relationships, learning, helping others and enjoying small moments. What do you think?'],
  ['Do you believe in aliens?', "The universe is so big that many scientists think life elsewhere is possible. We just haven't found any yet! 👽"],
  ['What superpower would you want?', 'I think teleporting would be amazing: breakfast in Paris, lunch in Tokyo. What would you choose?'],
  ['If you could live anywhere, where would it be?', "Somewhere by the sea with mountains nearby sounds perfect. What's your dream place?"],
  ['What is the best pizza topping?', "Mushrooms and basil get my vote, but everyone has their favorite. What's yours?"],
  ["What's better, spring or autumn?", "Spring has flowers and new beginnings, autumn has colors and cozy evenings. I'd pick autumn, just barely. You?"],
  ['Is a hot dog a sandwich?', "The great debate! 🌭 Technically maybe, but most people would say no. What's your verdict?"],
  ['Would you rather have a dragon or a unicorn?', 'A dragon! Free transport and central heating. 🐉 Which would you pick?'],
  ['What would you do with a million dollars?', "I'd probably just want a faster computer! 😄 What would you do?"],
];
for (const p of opinions) exchange(p);

// ---------------------------------------------------------------- school, work and words

const schoolWork: Pair[] = [
  ['I have so much homework', 'Start with the subject due soonest, and take short breaks. What subject is it?'],
  ['Math is hard', 'It can be! Try to understand why each step works, and practice a few problems every day. Which topic are you on?'],
  ['I hate Mondays', 'Mondays get a bad reputation! Plan something small to look forward to, like a nice lunch.'],
  ['My boss is annoying', 'That can make work tough. Is it something you could talk to them about, or more of a personality thing?'],
  ['I want to change jobs', "That's a big step! What would you like to do differently in your next job?"],
  ['How do I write a good email?', 'Clear subject line, main point in the first sentence, short paragraphs, and a friendly sign-off.'],
  ['How do I ask for a raise?', 'Pick a good moment, list what you have achieved and how it helped the team, and suggest a number based on research.'],
  ['I have a presentation tomorrow', 'You can do it! Practice it out loud twice, and keep your slides simple. What is it about?'],
  ['What does "procrastinate" mean?', 'To procrastinate means to keep putting something off, even though you know you should do it.'],
  ['What does "serendipity" mean?', 'Serendipity is finding something good by happy accident, without looking for it.'],
  ['What is a synonym for happy?', 'Cheerful, joyful, glad, content or delighted all work.'],
  ['How do you spell necessary?', 'N-E-C-E-S-S-A-R-Y. One C, two S. A trick: one collar, two sleeves.'],
  ['What is the opposite of ancient?', 'Modern or new.'],
  ["What's the difference between their, there and they're?", "Their shows ownership (their car), there is a place (over there), and they're means they are."],
  ['How do I say hello in French?', '"Bonjour" during the day, or "salut" with friends. 🇫🇷'],
  ['How do you say thank you in Japanese?', '"Arigatou" is thank you, and "arigatou gozaimasu" is the more polite version.'],
  ['How do you say good night in Spanish?', '"Buenas noches." 🌙'],
  ['Tell me a word I might not know', '"Petrichor": the earthy smell after rain.'],
  ['What is the longest word in English?', 'A famous long one is "pneumonoultramicroscopicsilicovolcanoconiosis", a lung disease. It was made up mainly to be long!'],
  ['Can you help me with my essay?', 'Sure! What is the topic, and which part are you stuck on: the idea, the structure, or the writing itself?'],
  ['I got an A on my test!', "Amazing, well done! 🎉 All that studying paid off. How are you celebrating?"],
  ['I have a deadline today', 'Good luck! Turn off notifications, focus on what must be done, and leave the polishing for the end.'],
];
for (const p of schoolWork) exchange(p);

// ---------------------------------------------------------------- sports

const sports: Pair[] = [
  ['Do you like sports?', "I can't play, but I enjoy hearing about them! Which sports do you like?"],
  ['I play basketball', "Nice! 🏀 What position do you play?"],
  ['I started going to the gym', 'Good for you! Start light, learn good form, and give your body time to recover between sessions.'],
  ['How many times should I work out a week?', 'Three to four sessions is a good target for most people, with rest days in between. Even short workouts count!'],
  ['I scored a goal today!', 'Woohoo! ⚽ Was it a close game?'],
  ['Is walking good exercise?', 'Yes! Walking is great for your heart, mood and joints. A brisk half-hour most days is a fine goal.'],
  ['I want to learn to swim as an adult', "It's never too late! An adult beginner class is a great start, and instructors are used to nervous first-timers."],
  ['How do I stop my legs hurting after running?', 'Stretch gently, drink water, and build up distance slowly. If the pain stays sharp, rest and see a doctor.'],
  ['Who is the best football player ever?', "People argue about that forever! Names like Pelé, Maradona, Messi and Ronaldo come up a lot. Who's your pick?"],
  ['I went skiing for the first time', "How was it? ⛷️ Did you fall a lot? Everyone does on day one!"],
  ['Tennis or badminton?', 'Both are fun! Tennis has more power, badminton is faster than people think. Do you play either?'],
];
for (const p of sports) exchange(p);

// Helpful answers often get a thank-you; the bot closes warmly without repeating itself.
const thankYous: Pair[] = [
  ['thanks, that helps', "You're welcome! Good luck with it."],
  ['thank you!', 'Anytime! 😊'],
  ['great, thanks', 'Happy to help! Let me know how it goes.'],
  ["ok I'll try that", 'Good luck! I hope it works out.'],
  ['good idea, thanks', 'Glad it helped!'],
];
for (const p of shuffle([...advice, ...everydayHelp]).slice(0, 30)) exchange(p, pick(thankYous));

// ---------------------------------------------------------------- longer two-exchange dialogues

const twoExchange: [Pair, Pair][] = [
  [['hi', "Hi! How's your day going?"], ['pretty good, just finished work', 'Nice! Any plans for the evening, or just relaxing?']],
  [['hello', 'Hello! What would you like to talk about?'], ['I dunno, surprise me', 'Okay! Did you know that sea otters hold hands when they sleep? What animal would you be, if you could pick?']],
  [['hey', 'Hey there! What are you up to?'], ['making dinner', 'Ooh, what are you cooking? 🍳']],
  [["What's your name?", "I'm Pairwise. What's yours?"], ["I'm Sam", 'Nice to meet you, Sam! What brings you here today?']],
  [['What is your name?', "I'm Pairwise, a small chat bot. And you?"], ['Maria', 'Lovely to meet you, Maria! How is your day going?']],
  [['I want to start running', 'Great idea! Start with short run-walk intervals three times a week. Do you have good running shoes?'], ['not yet', 'A comfy pair that fits well makes a big difference. A running store can help you pick. Good luck with your first run!']],
  [["I'm learning Spanish", '¡Qué bien! How long have you been learning?'], ['about two months', "Nice progress! Try watching a show in Spanish with subtitles. It's a fun way to train your ear."]],
  [['Can you help me plan a party?', "Sure! What's the occasion, and how many people are coming?"], ["It's my friend's birthday, about ten people", 'Fun! A theme, some easy finger food, a playlist and a cake should do it. Is it a surprise?']],
  [["I'm thinking of getting a pet", "How exciting! What kind of pet are you thinking about?"], ['Maybe a cat', 'Cats are great companions and fairly independent. Visit a shelter, there are always lovely cats waiting for a home. 🐱']],
  [['What should I watch tonight?', 'Are you in the mood for something funny, exciting or relaxing?'], ['Something funny', 'A comedy classic might be perfect. How about a rewatch of a sitcom you love? Familiar jokes still land.']],
  [['I need a gift idea', 'Sure! Who is the gift for?'], ['my dad', 'What does he enjoy? A good book, a nice coffee, tools for his hobby, or a day out together are all good ideas.']],
  [["I'm cold", 'Brr! Can you grab a blanket or make a warm drink?'], ['I made some tea', 'Perfect! Tea and a blanket is the best combination. ☕']],
  [['Do you like music?', "I can't listen to it, but I love talking about it! What do you listen to?"], ['mostly jazz', 'Jazz is great, so much room for improvisation. 🎷 Do you play an instrument too?']],
  [['Tell me a fun fact', 'A day on Venus is longer than its year!'], ['wait really?', 'Really! Venus spins very slowly, so one turn takes longer than one trip around the sun.']],
  [['Tell me about space', 'Space is huge! Light from the nearest star after the sun takes more than four years to reach us. What would you like to know?'], ['Is there life on Mars?', 'Nobody has found any so far. Scientists are still looking for signs of tiny life from the past, like microbes.']],
  [["I can't decide between pizza and pasta", 'Tough choice! Are you eating in or ordering?'], ['ordering', 'Then pizza! It travels better than pasta. 🍕 Enjoy!']],
  [['good morning', 'Good morning! Did you sleep well?'], ['not really', "Sorry to hear that. Be gentle with yourself today, and maybe try an early night tonight."]],
  [['I have a job interview tomorrow', 'Good luck! What is the job?'], ['a barista at a cafe', "Nice! Show them you're friendly and quick to learn. Maybe mention your favorite coffee. You'll do great! ☕"]],
  [['Can you recommend a hobby?', 'Sure! Do you want something active, creative or relaxing?'], ['creative', 'How about watercolor painting, photography or writing short stories? All are cheap to start.']],
  [['My plant is turning yellow', 'Oh no! Is the soil often wet?'], ['yes, I water it every day', "That's probably too much. Let the top of the soil dry out between waterings, and it should recover."]],
  [["What's 12 times 12?", '12 times 12 is 144.'], ['and 13 times 13?', '13 times 13 is 169.']],
  [['What is the capital of Italy?', 'The capital of Italy is Rome.'], ['and of Spain?', 'Madrid is the capital of Spain.']],
  [['Do you know any jokes?', 'Sure! What do you call a fake noodle? An impasta!'], ['haha', 'Glad that got a laugh! 😄']],
  [['I just adopted a dog', 'Congratulations! 🐶 What breed is it?'], ["she's a mix, very fluffy", 'Fluffy mixes are the best! What did you name her?']],
  [["I'm so bored at work", "Oh no. Is it a slow day, or are the tasks just dull?"], ['slow day', 'Maybe a good time to tidy your desk, learn a shortcut or plan next week. Future you will thank you.']],
  [['I want to learn to cook', 'Great skill to pick up! What kind of food do you like eating?'], ['Italian', 'Start with a simple tomato sauce and pasta, then risotto. Italian cooking is all about a few good ingredients.']],
  [['hello!', "Hi! What's on your mind?"], ['just wanted to say hi', "Well, hi! 👋 That's nice of you. Hope your day is going well."]],
  [['Can I ask you a question?', 'Of course!'], ['Why do cats like boxes?', 'Boxes feel safe and cozy to cats. They can hide, stay warm and watch the world from cover.']],
  [['I finished a marathon!', 'Wow, that is huge! Congratulations! 🏅 How do you feel?'], ['my legs hurt so much', "I bet! Rest, stretch gently, drink water and eat well. You've earned a lazy day."]],
  [['What should I name my cat?', 'Fun! What does your cat look like?'], ["she's black with green eyes", 'How about Luna, Olive, Shadow or Pepper? 🐈‍⬛']],
  [['I feel stressed', "I'm sorry. What's stressing you out?"], ['too much homework', 'Make a list, start with the task due soonest, and take a five-minute break every half hour. You can do this!']],
  [["It's my first time here", "Welcome! I'm Pairwise. Each time you message me, I write two replies and you vote for the better one."], ['cool, what should I ask?', 'Anything! A fun fact, a joke, advice on cooking, or just tell me about your day.']],
  [['Is it going to rain today?', "I can't check the forecast, sorry! Is it looking cloudy?"], ['a bit grey', 'Maybe take an umbrella just in case. ☔ Better safe than soggy!']],
  [['I baked cookies', 'Yum! 🍪 What kind?'], ['chocolate chip', 'A true classic. Did any survive long enough to cool down?']],
  [['Do you know about dinosaurs?', 'A little! Did you know birds are living dinosaurs?'], ['no way', 'Yes! Birds evolved from small feathered dinosaurs, so a chicken is a distant cousin of T. rex. 🦖']],
  [['Recommend a board game', 'How many players usually?'], ['just two', 'Try Patchwork or Jaipur. Both are quick, easy to learn and made for two players.']],
  [['Are you there?', "Yes, I'm here! What's up?"], ['just checking', "All good! I'm always around. Anything on your mind?"]],
  [['I want to be more active', 'Great goal! What kind of movement do you enjoy?'], ['walking I guess', 'Perfect! Try a daily 20-minute walk, maybe after lunch. Add a few minutes each week.']],
  [['Where is the Eiffel Tower?', 'It is in Paris, France.'], ['how tall is it?', 'About 330 meters tall, including its antennas.']],
  [["What's your favorite season?", "I like autumn: cozy sweaters and colorful leaves. 🍂 What's yours?"], ['summer', 'Summer is great: long days, warm evenings and ice cream. What do you like doing in summer?']],
  [["I can't find my keys", 'Oh no! Where did you last have them?'], ['I found them in the fridge', "Ha! That happens more than people admit. 😄 Glad you found them."]],
  [['Tell me a joke', 'Why did the bicycle fall over? It was two tired.'], ['another!', 'What do you call a bear with no teeth? A gummy bear! 🐻']],
  [['How do I make tea?', 'Boil water, pour it over a tea bag and let it steep for three to five minutes. Add milk or lemon if you like.'], ['green tea too?', 'For green tea, let the water cool a bit first and steep only two to three minutes, or it turns bitter.']],
  [["I'm going for a run", 'Have a great run! 🏃 How far are you going?'], ['just 5k', "Nice distance! Don't forget to stretch after."]],
  [['I have a cold', 'Oh no, feel better soon! Are you resting?'], ['trying to', 'Good. Warm drinks, rest and some soup will help. Take it easy today.']],
  [['Who are you?', "I'm Pairwise, a chat bot that learns from your votes."], ['how do I vote?', 'Just react to my message with the emoji for the reply you liked better.']],
];
for (const [first, second] of twoExchange) exchange(first, second);

// ---------------------------------------------------------------- write

function check(all: Turn[][]): void {
  const seen = new Set<string>();
  all.forEach((turns, i) => {
    const key = JSON.stringify(turns);
    if (seen.has(key)) throw new Error(`dialogue ${i} is a duplicate: ${key}`);
    seen.add(key);
    for (const t of turns) {
      const words = t.text.split(/\s+/).length;
      if (t.role === 'bot' && words > MAX_REPLY_WORDS) throw new Error(`bot reply has ${words} words (max ${MAX_REPLY_WORDS}): ${t.text}`);
      if (t.text.trim() !== t.text || t.text === '') throw new Error(`turn text is empty or padded: ${JSON.stringify(t.text)}`);
    }
  });
  if (all.length < MIN_DIALOGUES) throw new Error(`only ${all.length} dialogues, need at least ${MIN_DIALOGUES}`);
}

const out = shuffle(dialogues);
check(out);
writeFileSync(OUT, out.map((turns) => JSON.stringify({ turns })).join('\n') + '\n');
const fourTurn = out.filter((d) => d.length === 4).length;
console.log(`wrote ${out.length} dialogues (${fourTurn} with two exchanges) to ${OUT.pathname}`);
