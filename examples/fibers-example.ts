// A template renderer written in node-fibers' style with asyncjob/fibers and
// asyncjob/fibers/future (`npm run example:fibers`; docs/fibers.md). The renderer and its helpers
// are plain synchronous functions, String.prototype.replace() callbacks included: a helper that
// reads a template file (fs.readFile through Future.wrap) or asks an asynchronous directory
// service (a promise, through Future.fromPromise) waits right there, yielding its fiber, while
// the event loop goes on. It prints examples/fibers-example.expected.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Future = require('asyncjob/fibers/future');

const templates = path.join(__dirname, '..', '..', 'examples', 'fibers-templates');
const readFile = Future.wrap(fs.readFile);

// An asynchronous API, as a database or HTTP client would be: promises, answered later.
interface Person {
  name: string;
  role: string;
}
const people: Record<number, Person> = {
  1: { name: 'Ada', role: 'engineer' },
  2: { name: 'Grace', role: 'admiral' },
  3: { name: 'Linus', role: 'maintainer' },
};
async function lookUp(id: number): Promise<Person> {
  await delay(5 * (4 - id)); // later ids answer first: the order below is the template's
  const person = people[id];
  if (person === undefined) throw new Error(`no person ${id}`);
  return person;
}

// What the helpers share while one page renders.
interface Scope {
  title?: string;
  date?: string;
  person?: Person;
  count: number;
  reads: number;
}

function readTemplate(scope: Scope, name: string): string {
  scope.reads++;
  const text: string = readFile(path.join(templates, name), 'utf8').wait(); // yields the fiber until read
  return text.trimEnd();
}

const helpers: Record<string, (scope: Scope, args: string[]) => string> = {
  title: (scope) => scope.title!,
  date: (scope) => scope.date!,
  include: (scope, [name]) => render(scope, readTemplate(scope, name)),
  // Starts every look-up at once, then renders each person as its answer is needed.
  each: (scope, ids) => {
    const answers = ids.map((id) => Future.fromPromise(lookUp(Number(id))));
    const item = readTemplate(scope, 'item.html');
    return answers
      .map((answer) => {
        scope.person = answer.wait(); // yields the fiber until the promise settles
        scope.count++;
        return render(scope, item);
      })
      .join('\n');
  },
  name: (scope) => scope.person!.name,
  role: (scope) => scope.person!.role,
  count: (scope) => String(scope.count),
  reads: (scope) => String(scope.reads),
};

function render(scope: Scope, template: string): string {
  return template.replace(/\{\{(\w+)((?: [^ }]+)*)\}\}/g, (_match, helper: string, args: string) =>
    helpers[helper](scope, args.split(' ').filter(Boolean)),
  );
}

// renderPage(name, title) runs in a fiber of its own and returns a Future of the page.
const renderPage = function (name: string, title: string): string {
  const scope: Scope = { title, date: '2011-01-21', count: 0, reads: 0 };
  return render(scope, readTemplate(scope, name));
}.future();

renderPage('page.html', 'Our people').resolve((error: unknown, page: string) => {
  if (error) throw error;
  console.log(page);
});
