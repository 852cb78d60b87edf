
(function(){
  document.querySelectorAll('[data-filter-for]').forEach(function(box){
    var table=document.getElementById(box.getAttribute('data-filter-for'));
    var input=box.querySelector('input'), select=box.querySelector('select'), count=box.querySelector('.count');
    var rows=Array.prototype.slice.call(table.tBodies[0].rows);
    function apply(){
      var q=input.value.trim().toLowerCase(), kind=select?select.value:'', shown=0;
      rows.forEach(function(tr){
        var ok=(!q||tr.textContent.toLowerCase().indexOf(q)>=0)&&(!kind||tr.getAttribute('data-kind')===kind);
        tr.hidden=!ok; if(ok){shown++;}
      });
      count.textContent=shown+' of '+rows.length+' shown';
    }
    input.addEventListener('input',apply); if(select){select.addEventListener('change',apply);} apply();
  });
  document.body.setAttribute('data-ready','1');
})();
