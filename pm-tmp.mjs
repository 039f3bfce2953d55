import picomatch from 'picomatch';
const t = (g, n, o={}) => console.log(JSON.stringify(g), JSON.stringify(n), picomatch(g, o)(n));
t('a/**', 'a/'); t('a/**', 'a'); t('a/**', 'a/x/y'); t('a/**/b', 'a/b'); t('a/**/b', 'a/x/y/b');
t('a/*', 'a/.x'); t('a/**/b', 'a/.x/b'); t('a/*', 'a/_x');
t('a/\\(x\\)/*', 'a/(x)/y'); t('a/(x)/*', 'a/(x)/y'); t('a/+(x)/*', 'a/+(x)/y'); t('a/\\+\\(x\\)/*', 'a/+(x)/y');
t('a/[0-9][0-9]/*', 'a/12/y'); t('a/*', 'a/ü x'); t('a/*.gz', 'a/..gz'); t('a/*', 'a/..');
t('**/x', 'a/b/x'); t('**/x', 'x'); t('a**b', 'axyb'); t('a/x**', 'a/xyz');
t('a/b', 'a//b'); t('a/*/b', 'a//b'); t('a/**/b', 'a//b');
t('a/\\$x/*', 'a/$x/y'); t('a/$x/*', 'a/$x/y'); t('a/\\^x/*', 'a/^x/y');t('a/x\\.y/*', 'a/x.y/y'); t('a/x\\=y/*', 'a/x=y/y'); t('a/x\\ y/*', 'a/x y/y');
console.log(picomatch.makeRe('a/**/b/*.gz').source);
console.log(picomatch.makeRe('a/*x*x*x*.gz').source);
for (const [g, n] of [['a/*x*x*x*x*.gz', 'a/' + 'x'.repeat(5000)], ['**/*x*x*.gz', 'a/'.repeat(2500)], ['a/**/b/**/c/*.gz', 'a/' + 'b/'.repeat(2500)], ['events/dt=[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/hr=[0-9][0-9]/*.json.gz', 'events/dt=2026-11-24/hr=13/' + 'a.json.gz'.repeat(600)]]) {
  const m = picomatch(g); const s = performance.now(); const r = m(n); console.log(g, r, (performance.now()-s).toFixed(1), 'ms');
}
