(function(){
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.alert'));
  var at = 0;
  function select(i){
    if(!rows.length) return;
    rows[at].classList.remove('selected');
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add('selected');
    rows[at].scrollIntoView({block:'nearest'});
  }
  select(0);
  document.addEventListener('keydown', function(e){
    if(e.target.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey || !rows.length) return;
    if(e.key === 'j') select(at + 1);
    else if(e.key === 'k') select(at - 1);
    else if(e.key === 'f') rows[at].querySelector('button[value=fraud]').click();
    else if(e.key === 'l') rows[at].querySelector('button[value=legit]').click();
    else return;
    e.preventDefault();
  });
})();
