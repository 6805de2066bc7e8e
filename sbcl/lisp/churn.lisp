;;;; Thread churn that conses little: SBCL_TEST_ARGS rounds (default
;;;; 200000) of create + wait-until-dead, with no explicit GC. 0.9.4.1 reaps
;;;; a dead thread only from a finalizer after a GC, so dead threads pile up
;;;; between GCs; each one keeps its block. Prints progress every 10,000
;;;; rounds and exits 104 when all rounds are done (a runtime that runs out
;;;; of map entries dies before).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds*
  (test-arg 200000))

(let ((start (get-internal-real-time)) (most-maps 0))
  (dotimes (i *rounds*)
    (let ((thread (sb-thread:make-thread (lambda () nil))))
      (loop while (sb-thread:thread-alive-p thread)))
    (when (zerop (mod (1+ i) 10000))
      (let ((maps (map-count)))
        (setf most-maps (max most-maps maps))
        (format t "~&churn: ~D rounds, ~D mappings, ~,1F s~%" (1+ i) maps
                (/ (- (get-internal-real-time) start) 1000.0))
        (finish-output))))
  (format t "~&churn: survived ~D rounds without an explicit GC; at most ~D mappings seen~%"
          *rounds* most-maps)
  (sb-ext:quit :unix-status 104))
