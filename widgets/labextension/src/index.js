/**
 * Highlights a notebook code cell whose first line starts with `%%workflow` as YAML.
 *
 * JupyterLab 4 highlights a cell magic's body in the kernel's language (Python). This plugin adds
 * to code-cell editors a compartment that, while the first line is `%%workflow …`, holds
 * JupyterLab's own YAML language at the highest precedence (so it wins over the kernel's language,
 * and `#` comments a line); otherwise it holds nothing and the cell keeps the kernel's language.
 */
import { EditorExtensionRegistry, IEditorExtensionRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { ViewPlugin } from '@codemirror/view';

const MAGIC = /^%%workflow(\s|$)/;
const NONE = [];

/** The extension for one code-cell editor; `yaml()` loads JupyterLab's YAML language once. */
function workflowYaml(yaml, source) {
  const slot = new Compartment();
  const wanted = firstLine => (yaml.loaded && MAGIC.test(firstLine) ? yaml.loaded : NONE);
  const follow = EditorState.transactionExtender.of(tr => {
    if (!tr.docChanged) return null;
    const want = wanted(tr.newDoc.line(1).text);
    return slot.get(tr.startState) === want ? null : { effects: slot.reconfigure(want) };
  });
  const fetcher = ViewPlugin.define(view => {
    let alive = true;
    const fetch = state => {
      if (!yaml.loaded && MAGIC.test(state.doc.line(1).text)) {
        yaml().then(() => {
          const want = wanted(view.state.doc.line(1).text);
          if (alive && slot.get(view.state) !== want) view.dispatch({ effects: slot.reconfigure(want) });
        });
      }
    };
    fetch(view.state);
    return {
      update: update => update.docChanged && fetch(update.state),
      destroy: () => { alive = false; }
    };
  });
  return [slot.of(wanted(source.split('\n', 1)[0])), follow, fetcher];
}

export default {
  id: 'agents-magic:workflow-yaml',
  description: 'Highlights `%%workflow` cells as YAML.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate(app, extensions, languages) {
    let pending = null;
    const yaml = () => {
      const spec = languages.findByName('yaml');
      pending ??= (spec ? languages.getLanguage(spec) : Promise.resolve(null)).then(found => {
        const language = found?.support?.language;
        yaml.loaded = language ? Prec.highest(language.extension) : null;
      });
      return pending;
    };
    yaml.loaded = null;
    extensions.addExtension({
      name: 'agents-magic:workflow-yaml',
      factory: ({ model }) =>
        model.sharedModel?.cell_type === 'code'
          ? EditorExtensionRegistry.createImmutableExtension(workflowYaml(yaml, model.sharedModel.getSource()))
          : null
    });
  }
};
